"""Use cases of dispatch: recommend units, assign one, move a unit through its statuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from cad import clock
from cad.auth import actor_of
from cad.domain.incidents import (
    OPEN_STATUSES,
    IncidentStatus,
    change_incident_status,
    status_after_unit_released,
)
from cad.domain.timeline import EventKind, incident_status_event
from cad.errors import Conflict, Forbidden, InvalidInput, NotFound, UnitUnavailable
from cad.events import publish_after_commit
from cad.models import Agency, Assignment, Incident, Role, Station, Unit, User
from cad.services.incidents import get_incident
from cad.services.notify import crew_code
from cad.timeline import record_event
from dispatch.recommend import Candidate, Ranked, TravelTimes, capable_types, rank_candidates
from dispatch.runcards import RUN_CARDS, Slot, SlotProposal, card_name, card_unit_types, fill
from dispatch.timers import ack_deadline
from dispatch.units import (
    TIMELINE_EVENT_FOR_STATUS,
    UnitStatus,
    UnitType,
    change_unit_status,
)

#: Assignment columns stamped when a unit reaches a status.
_STAMP = {
    UnitStatus.ACKNOWLEDGED: "acknowledged_at",
    UnitStatus.EN_ROUTE: "en_route_at",
    UnitStatus.ON_SCENE: "on_scene_at",
}


def get_unit(session: Session, unit_id: int, field: str = "unit_id") -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"no unit {unit_id}", field)
    return unit


def list_units(session: Session, status: str | None = None, unit_type: str | None = None) -> list[Unit]:
    query = select(Unit).options(joinedload(Unit.agency), joinedload(Unit.station)).order_by(Unit.callsign)
    if status:
        query = query.where(Unit.status == UnitStatus(status))
    if unit_type:
        query = query.where(Unit.type == UnitType(unit_type))
    return list(session.scalars(query))


def active_assignments(session: Session, unit_ids: list[int]) -> dict[int, Assignment]:
    if not unit_ids:
        return {}
    rows = session.scalars(select(Assignment).where(Assignment.active, Assignment.unit_id.in_(unit_ids)))
    return {a.unit_id: a for a in rows}


def recommend_run_card(
    session: Session,
    incident_id: int,
    estimator: TravelTimes,
    *,
    stale_after_s: float,
    now: datetime | None = None,
    limit: int | None = None,
    run_cards: Mapping[str, Sequence[Slot]] = RUN_CARDS,
) -> tuple[Incident, tuple[UnitType, ...], list[Ranked], tuple[str, list[SlotProposal]]]:
    """Every capable available unit by arrival time (or the best `limit`), and the incident's run
    card filled with candidates and a proposal (one search per vehicle profile serves both)."""
    incident = get_incident(session, incident_id)
    if incident.status not in OPEN_STATUSES:
        raise Conflict(f"incident {incident.number} is {incident.status}", "incident_id")
    if incident.lat is None or incident.lon is None:
        raise Conflict(f"incident {incident.number} has no location to measure from; set one first", "location")
    card = card_name(str(incident.type), incident.priority, run_cards)
    slots = run_cards[card]
    types = tuple(dict.fromkeys((*capable_types(str(incident.type)), *card_unit_types(slots))))
    rows = session.execute(
        select(
            Unit.id,
            Unit.callsign,
            Unit.type,
            Agency.code,
            Unit.lat,
            Unit.lon,
            Unit.position_at,
            Station.lat,
            Station.lon,
        )
        .join(Agency, Agency.id == Unit.agency_id)
        .outerjoin(Station, Station.id == Unit.station_id)
        .where(Unit.status == UnitStatus.AVAILABLE, Unit.type.in_(types))
    )  # plain rows, not objects: this runs on every recommendation over hundreds of units
    candidates = [
        Candidate(
            unit_id=uid,
            callsign=callsign,
            unit_type=UnitType(unit_type),
            agency=agency,
            position=(lat, lon) if lat is not None and lon is not None else None,
            position_at=at,
            station=(s_lat, s_lon) if s_lat is not None and s_lon is not None else None,
        )
        for uid, callsign, unit_type, agency, lat, lon, at, s_lat, s_lon in rows
    ]
    ranked = rank_candidates(
        (incident.lat, incident.lon),
        candidates,
        estimator,
        now=now or clock.now(),
        stale_after_s=stale_after_s,
        limit=len(candidates),
    )
    return incident, types, ranked if limit is None else ranked[:limit], (card, fill(slots, ranked))


def assign_unit(session: Session, incident_id: int, unit_id: int, user: User) -> Assignment:
    """Send a unit. Exactly one of two dispatchers racing for the same unit wins: the unit row
    moves `available → assigned` in one conditional UPDATE, and a partial unique index allows
    one active assignment per unit."""
    return assign_units(session, incident_id, [unit_id], user)[0]


def assign_units(session: Session, incident_id: int, unit_ids: Sequence[int], user: User) -> list[Assignment]:
    """Send several units (a run card) in one action: all of them, or none and a 409 that names
    every unit no longer available."""
    if len(set(unit_ids)) != len(unit_ids):
        raise InvalidInput("a unit appears twice", "unit_ids")
    incident = get_incident(session, incident_id)
    if incident.status not in OPEN_STATUSES:
        raise Conflict(f"incident {incident.number} is {incident.status}; open it again first", "incident_id")
    now, actor = clock.now(), actor_of(user)
    taken = [
        unit_id
        for unit_id in unit_ids
        if session.execute(
            sa.update(Unit)
            .where(Unit.id == unit_id, Unit.status == UnitStatus.AVAILABLE)
            .values(status=UnitStatus.ASSIGNED, status_changed_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    ]
    if len(taken) != len(unit_ids):
        session.rollback()
        busy = [get_unit(session, u) for u in unit_ids if u not in taken]
        field = "unit_id" if len(unit_ids) == 1 else "unit_ids"
        raise UnitUnavailable(", ".join(f"unit {u.callsign} is {u.status}, not available" for u in busy), field)
    assignments = [
        Assignment(
            incident_id=incident.id,
            unit_id=u,
            active=True,
            assigned_at=now,
            assigned_by_id=user.id,
            crew_code=crew_code(),
        )
        for u in unit_ids
    ]
    session.add_all(assignments)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise UnitUnavailable("a unit was assigned elsewhere at the same moment", "unit_id") from None
    for assignment in assignments:
        record_event(
            session,
            EventKind.UNIT_ASSIGNED,
            at=now,
            actor=actor,
            incident_id=incident.id,
            unit_id=assignment.unit_id,
            data={"assignment_id": assignment.id},
        )
        publish_after_commit(
            session, "assignment", {"id": assignment.id, "incident_id": incident.id, "unit_id": assignment.unit_id}
        )
        publish_after_commit(session, "unit", {"id": assignment.unit_id, "status": UnitStatus.ASSIGNED})
    _move_incident(session, incident, IncidentStatus.NEW, IncidentStatus.DISPATCHED, actor, now)
    session.commit()
    return assignments


def _move_incident(
    session: Session, incident: Incident, current: IncidentStatus, new: IncidentStatus, actor: str, at: datetime
) -> None:
    """Conditional move: only the writer that still sees `current` records the change."""
    if current == new:
        return
    change_incident_status(current, new)
    moved = session.execute(
        sa.update(Incident)
        .where(Incident.id == incident.id, Incident.status == current)
        .values(status=new)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved == 1:
        record_event(session, incident_status_event(new), at=at, actor=actor, incident_id=incident.id)
        publish_after_commit(session, "incident", {"id": incident.id, "status": new})


def set_unit_status(
    session: Session,
    unit_id: int,
    requested: UnitStatus,
    user: User | None,
    reason: str | None = None,
    *,
    actor: str | None = None,
    source: str | None = None,
    expected: UnitStatus | None = None,
    at: datetime | None = None,
) -> Unit:
    """A crew or dispatcher (or the GPS geofence, `user=None, actor="gps"`) moves a unit; the
    incident and its timeline follow. `expected`: only if the unit is still in that status
    (an automatic move never overrides what a crew did meanwhile). `at`: when it happened, if
    not now (the GPS stamps the moment the unit arrived, not the moment it was sure of it)."""
    unit = get_unit(session, unit_id)
    if user is not None and user.role is Role.CREW and user.unit_id != unit.id:
        raise Forbidden("a crew member changes only their own unit's status", "unit_id")
    if requested is UnitStatus.ASSIGNED:
        raise InvalidInput("a unit becomes 'assigned' by an assignment", "status")
    current = unit.status
    if expected is not None and current is not expected:
        raise Conflict(f"unit {unit.callsign} is {current}, no longer {expected}", "status")
    new = change_unit_status(current, requested)
    now, actor = at or clock.now(), actor or actor_of(user)
    moved = session.execute(
        sa.update(Unit)
        .where(Unit.id == unit.id, Unit.status == current)
        .values(status=new, status_changed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        session.rollback()
        raise Conflict(f"unit {unit.callsign} changed status meanwhile; reload and try again", "status")
    assignment = session.scalar(select(Assignment).where(Assignment.unit_id == unit.id, Assignment.active))
    data = {
        "from": str(current),
        "to": str(new),
        **({"reason": reason} if reason else {}),
        **({"source": source} if source else {}),
    }
    if assignment is None:
        record_event(
            session, EventKind.UNIT_STATUS_CHANGED, at=now, actor=actor, unit_id=unit.id, data=data, source=source
        )
    else:
        _follow_assignment(session, assignment, current, new, actor, now, data, source)
    publish_after_commit(session, "unit", {"id": unit.id, "status": new})
    session.commit()
    session.refresh(unit)
    return unit


def _follow_assignment(
    session: Session,
    assignment: Assignment,
    current: UnitStatus,
    new: UnitStatus,
    actor: str,
    now: datetime,
    data: dict[str, str],
    source: str | None = None,
) -> None:
    incident = assignment.incident
    if current is UnitStatus.ASSIGNED and new is UnitStatus.EN_ROUTE:
        # driving off acknowledges the assignment
        assignment.acknowledged_at = now
        record_event(
            session,
            EventKind.UNIT_ACKNOWLEDGED,
            at=now,
            actor=actor,
            incident_id=incident.id,
            unit_id=assignment.unit_id,
            data={"implied_by": "en_route"},
        )
    if new in _STAMP:
        setattr(assignment, _STAMP[new], now)
    record_event(
        session,
        EventKind(TIMELINE_EVENT_FOR_STATUS[new]),
        at=now,
        actor=actor,
        incident_id=incident.id,
        unit_id=assignment.unit_id,
        data=data,
        source=source,
    )
    if new is UnitStatus.ON_SCENE:
        if incident.status is IncidentStatus.DISPATCHED:
            _move_incident(session, incident, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE, actor, now)
    elif new is UnitStatus.AVAILABLE:
        assignment.active, assignment.cleared_at = False, now
        session.flush()
        others = [a for a in incident.assignments if a.active and a.id != assignment.id]
        reached = any(a.on_scene_at is not None for a in incident.assignments)
        after = status_after_unit_released(incident.status, len(others), reached)
        _move_incident(session, incident, incident.status, after, actor, now)


def escalate_if_unacknowledged(
    session: Session, assignment_id: int, estimator: TravelTimes, *, stale_after_s: float
) -> dict[str, object] | None:
    """The acknowledgement timer fired: if the crew still has not acknowledged, alert the
    dispatchers once (a conditional UPDATE makes a second scheduler's run a no-op) and offer
    the next recommended unit. Returns the alert, or None when nothing was overdue."""
    now = clock.now()
    claimed = session.execute(
        sa.update(Assignment)
        .where(
            Assignment.id == assignment_id,
            Assignment.active,
            Assignment.acknowledged_at.is_(None),
            Assignment.ack_alerted_at.is_(None),
        )
        .values(ack_alerted_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.rollback()
        return None
    assignment = session.get_one(Assignment, assignment_id)
    incident, unit = assignment.incident, assignment.unit
    offer = None
    if incident.lat is not None and incident.status in OPEN_STATUSES:
        _, _, ranked, _ = recommend_run_card(
            session, incident.id, estimator, stale_after_s=stale_after_s, now=now, limit=1
        )
        offer = ranked[0] if ranked else None
    alert: dict[str, object] = {
        "assignment_id": assignment.id,
        "incident_id": incident.id,
        "incident_number": incident.number,
        "unit_id": unit.id,
        "callsign": unit.callsign,
        "overdue_s": round((now - assignment.assigned_at).total_seconds(), 1),
        "next_unit_id": offer.unit_id if offer else None,
        "next_callsign": offer.callsign if offer else None,
        "next_eta_s": offer.eta_s if offer else None,
    }
    record_event(
        session, EventKind.ACK_OVERDUE, at=now, actor="scheduler", incident_id=incident.id, unit_id=unit.id, data=alert
    )
    publish_after_commit(session, "alert", {"kind": "ack_overdue", **alert})
    session.commit()
    return alert


def overdue_unalerted(
    session: Session, now: datetime, timeouts: Mapping[int, float], *, grace_s: float, within_s: float
) -> list[int]:
    """Active assignments past their acknowledgement deadline (plus `grace_s`) that were never
    alerted, assigned within the last `within_s`: ids, oldest first. Their timers were lost (a
    scheduler killed while running one, a web process killed before setting one)."""
    soonest = now - timedelta(seconds=min(timeouts.values()) + grace_s)
    rows = session.execute(
        select(Assignment.id, Assignment.assigned_at, Incident.priority)
        .join(Incident, Incident.id == Assignment.incident_id)
        .where(
            Assignment.active,
            Assignment.acknowledged_at.is_(None),
            Assignment.ack_alerted_at.is_(None),
            Assignment.assigned_at <= soonest,
            Assignment.assigned_at >= now - timedelta(seconds=within_s),
        )
        .order_by(Assignment.assigned_at)
    ).all()
    late = now - timedelta(seconds=grace_s)
    return [row.id for row in rows if ack_deadline(row.assigned_at, row.priority, timeouts) <= late]
