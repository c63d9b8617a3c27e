"""Use cases of dispatch: recommend units, assign them (taking one from a less urgent incident
when the dispatcher confirms it), release one, a crew declining, move a unit through its statuses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from cad import clock
from cad.domain.actors import Person, actor_of
from cad.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, UnitUnavailable
from cad.domain.incidents import (
    OPEN_STATUSES,
    IncidentStatus,
    change_incident_status,
    status_after_unit_released,
)
from cad.domain.timeline import EventKind, incident_status_event
from cad.events import publish_after_commit
from cad.models import Agency, Assignment, Incident, Role, Station, Unit
from cad.services.incidents import after_withdrawal, get_incident, lock_incident, move_unit, withdraw_unit
from cad.services.notify import crew_code
from cad.timeline import record_event
from dispatch.recommend import Candidate, Ranked, TravelTimes, capable_types, rank, rank_candidates
from dispatch.runcards import RUN_CARDS, Slot, SlotProposal, card_name, card_unit_types, fill, reach
from dispatch.timers import ack_deadline
from dispatch.units import (
    PREEMPTABLE,
    STATUS_AFTER_DECLINE,
    TIMELINE_EVENT_FOR_STATUS,
    DeclineReason,
    UnitStatus,
    UnitType,
    change_unit_status,
    preemption_refused,
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


@dataclass(frozen=True)
class Recommendation:
    """The best `limit` capable available units by arrival time out of `total`, and the incident's
    run card filled with candidates and a proposal."""

    incident: Incident
    unit_types: tuple[UnitType, ...]
    ranked: list[Ranked]
    total: int
    card: str
    slots: list[SlotProposal]


def recommend(
    session: Session,
    incident_id: int,
    estimator: TravelTimes,
    *,
    stale_after_s: float,
    now: datetime | None = None,
    limit: int | None = None,
    run_cards: Mapping[str, Sequence[Slot]] = RUN_CARDS,
) -> Recommendation:
    """Every capable available unit is ranked (one search per vehicle profile serves the list and
    the run card); only the best `limit` (None: all) and the run card's candidates are made into
    `Ranked` rows."""
    incident = get_incident(session, incident_id)
    if incident.status not in OPEN_STATUSES:
        raise Conflict(f"incident {incident.number} is {incident.status}", "incident_id")
    if incident.lat is None or incident.lon is None:
        raise Conflict(f"incident {incident.number} has no location to measure from; set one first", "location")
    card, slots, types = ranked_types(str(incident.type), incident.priority, run_cards)
    candidates = _candidates(session, types, (UnitStatus.AVAILABLE,))
    ranking = rank(
        (incident.lat, incident.lon), candidates, estimator, now=now or clock.now(), stale_after_s=stale_after_s
    )
    proposals = fill(slots, ranking.best_of_each_type(reach(slots)))
    return Recommendation(incident, types, ranking.best(limit), len(ranking), card, proposals)


def ranked_types(
    incident_type: str, priority: int, run_cards: Mapping[str, Sequence[Slot]] = RUN_CARDS
) -> tuple[str, Sequence[Slot], tuple[UnitType, ...]]:
    """The run card of an incident of this type and priority, its slots, and the unit types its
    recommendation ranks (the capable ones, then those the card adds): one road search each."""
    card = card_name(incident_type, priority, run_cards)
    slots = run_cards[card]
    return card, slots, tuple(dict.fromkeys((*capable_types(incident_type), *card_unit_types(slots))))


#: The candidates' columns, built once (a statement built per request costs more than its rows'
#: conversions). The unit type and the fix's time come as the driver gives them, without the
#: columns' own conversions (the enum type's lookup, UTCDateTime's astimezone) on every row of
#: hundreds: `_candidates` makes the type a UnitType and a naive time (SQLite) aware UTC; an aware
#: one (PostgreSQL) is kept as it is, in the connection's zone, since only its age is read.
_CANDIDATES = (
    select(
        Unit.id,
        Unit.callsign,
        sa.type_coerce(Unit.type, sa.String),
        Agency.code,
        Unit.lat,
        Unit.lon,
        sa.type_coerce(Unit.position_at, sa.DateTime(timezone=True)),
        Station.lat,
        Station.lon,
    )
    .join(Agency, Agency.id == Unit.agency_id)
    .outerjoin(Station, Station.id == Unit.station_id)
    .where(
        Unit.status.in_(sa.bindparam("statuses", expanding=True)), Unit.type.in_(sa.bindparam("types", expanding=True))
    )
)
_CANDIDATES_AMONG = _CANDIDATES.where(Unit.id.in_(sa.bindparam("only", expanding=True)))
_UNIT_TYPES = {str(t): t for t in UnitType}


def _candidates(
    session: Session, types: Sequence[UnitType], statuses: Sequence[UnitStatus], only: Sequence[int] | None = None
) -> list[Candidate]:
    """Units of `types` in `statuses`, as plain rows (this runs on every recommendation over
    hundreds of units)."""
    params: dict[str, object] = {"statuses": list(statuses), "types": list(types)}
    if only is not None:
        params["only"] = list(only)
    out = []
    # Core rows through the session's connection (no ORM layer; flushed first as the session's
    # own execute would), and each Candidate built as its frozen __init__ would, without the
    # per-field setattr.
    if session.autoflush:
        session.flush()
    rows = session.connection().execute(_CANDIDATES if only is None else _CANDIDATES_AMONG, params).all()
    unit_types = _UNIT_TYPES
    for uid, callsign, unit_type, agency, lat, lon, at, s_lat, s_lon in rows:
        candidate = _new(Candidate)
        candidate.__dict__.update(
            unit_id=uid,
            callsign=callsign,
            unit_type=unit_types[unit_type],
            agency=agency,
            position=(lat, lon) if lat is not None and lon is not None else None,
            position_at=at if at is None or at.tzinfo is not None else at.replace(tzinfo=UTC),
            station=(s_lat, s_lon) if s_lat is not None and s_lon is not None else None,
        )
        out.append(candidate)
    return out


_new = object.__new__


@dataclass(frozen=True)
class Preemptable:
    """A unit on its way to a less urgent incident, and that incident."""

    ranked: Ranked
    status: UnitStatus
    incident_id: int
    incident_number: str
    incident_priority: int


def preemptable_units(
    session: Session, incident_id: int, estimator: TravelTimes, *, stale_after_s: float, now: datetime | None = None
) -> list[Preemptable]:
    """Capable units committed to a less urgent incident and still on their way, by arrival
    time here: what a dispatcher may take, with a confirmation, when nothing is available."""
    incident = get_incident(session, incident_id)
    if incident.status not in OPEN_STATUSES:
        raise Conflict(f"incident {incident.number} is {incident.status}", "incident_id")
    if incident.lat is None or incident.lon is None:
        raise Conflict(f"incident {incident.number} has no location to measure from; set one first", "location")
    held = {
        unit_id: (iid, number, priority)
        for unit_id, iid, number, priority in session.execute(
            select(Assignment.unit_id, Incident.id, Incident.number, Incident.priority)
            .join(Incident, Incident.id == Assignment.incident_id)
            .where(Assignment.active, Incident.priority > incident.priority, Incident.id != incident.id)
        )
    }
    if not held:
        return []
    statuses = {
        uid: UnitStatus(st) for uid, st in session.execute(select(Unit.id, Unit.status).where(Unit.id.in_(held)))
    }
    candidates = _candidates(session, capable_types(str(incident.type)), tuple(PREEMPTABLE), only=list(held))
    ranked = rank_candidates(
        (incident.lat, incident.lon),
        candidates,
        estimator,
        now=now or clock.now(),
        stale_after_s=stale_after_s,
        limit=len(candidates),
    )
    return [Preemptable(r, statuses[r.unit_id], *held[r.unit_id]) for r in ranked]


def assign_unit(session: Session, incident_id: int, unit_id: int, user: Person, *, preempt: bool = False) -> Assignment:
    """Send a unit. Exactly one of two dispatchers racing for the same unit wins: the unit row
    moves `available → assigned` in one conditional UPDATE, and a partial unique index allows
    one active assignment per unit. `preempt`: the dispatcher confirmed taking the unit from a
    less urgent incident it is on its way to."""
    return assign_units(session, incident_id, [unit_id], user, preempt=preempt)[0]


def assign_units(
    session: Session, incident_id: int, unit_ids: Sequence[int], user: Person, *, preempt: bool = False
) -> list[Assignment]:
    """Send several units (a run card) in one action: all of them, or none and a 409 that names
    every unit no longer available. The incident's row is taken first, so a close racing this
    either sees the new assignment or makes this a 409; never a closed incident with a unit."""
    if len(set(unit_ids)) != len(unit_ids):
        raise InvalidInput("a unit appears twice", "unit_ids")
    field = "unit_id" if len(unit_ids) == 1 else "unit_ids"
    held = {
        a.unit_id: a.incident_id
        for a in session.scalars(select(Assignment).where(Assignment.active, Assignment.unit_id.in_(unit_ids)))
    }
    # every incident this touches, in one order (two pre-emptions crossing cannot deadlock)
    for iid in sorted({incident_id, *(held.values() if preempt else ())}):
        lock_incident(session, iid, "incident_id" if iid == incident_id else field)
    incident = get_incident(session, incident_id)
    if incident.status not in OPEN_STATUSES:
        session.rollback()
        raise Conflict(f"incident {incident.number} is {incident.status}; open it again first", "incident_id")
    now, actor = clock.now(), actor_of(user)
    taken, preempted = [], {}
    for unit_id in unit_ids:
        if move_unit(session, unit_id, UnitStatus.AVAILABLE, UnitStatus.ASSIGNED, now):
            taken.append(unit_id)
        elif preempt:
            preempted[unit_id] = _preempt(session, unit_id, incident, actor, now, field)
            taken.append(unit_id)
    if len(taken) != len(unit_ids):
        session.rollback()
        raise UnitUnavailable(", ".join(_why_unavailable(session, u) for u in unit_ids if u not in taken), field)
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
            data={
                "assignment_id": assignment.id,
                **({"preempted_from": preempted[assignment.unit_id]} if assignment.unit_id in preempted else {}),
            },
        )
        publish_after_commit(
            session, "assignment", {"id": assignment.id, "incident_id": incident.id, "unit_id": assignment.unit_id}
        )
        publish_after_commit(session, "unit", {"id": assignment.unit_id, "status": UnitStatus.ASSIGNED})
    _move_incident(session, incident, IncidentStatus.NEW, IncidentStatus.DISPATCHED, actor, now)
    session.commit()
    return assignments


def _why_unavailable(session: Session, unit_id: int) -> str:
    unit = get_unit(session, unit_id)
    held = session.scalar(select(Assignment).where(Assignment.unit_id == unit.id, Assignment.active))
    if held is None:
        return f"unit {unit.callsign} is {unit.status}, not available"
    where = held.incident
    return f"unit {unit.callsign} is {unit.status} on {where.number} (P{where.priority}), not available"


def _preempt(session: Session, unit_id: int, incident: Incident, actor: str, now: datetime, field: str) -> str:
    """Take `unit_id` from the less urgent incident it is on its way to; that incident shows it
    lost the unit and, with no other unit, is back in the queue. Returns its number."""
    unit = get_unit(session, unit_id, field)
    held = session.scalar(select(Assignment).where(Assignment.unit_id == unit.id, Assignment.active))
    if held is None:
        session.rollback()
        raise UnitUnavailable(f"unit {unit.callsign} is {unit.status}, not available", field)
    lower = held.incident
    if lower.id == incident.id:
        session.rollback()
        raise Conflict(f"unit {unit.callsign} is already on {incident.number}", field)
    refused = preemption_refused(UnitStatus(unit.status), lower.priority, incident.priority)
    if refused is not None:
        session.rollback()
        raise UnitUnavailable(f"unit {unit.callsign} on {lower.number}: {refused}", field)
    withdraw_unit(
        session,
        held,
        UnitStatus.ASSIGNED,
        actor,
        now,
        reason=f"taken for {incident.number} (P{incident.priority})",
        by="dispatcher",
        kind=EventKind.UNIT_PREEMPTED,
        data={"to_incident": incident.number, "to_incident_id": incident.id},
    )
    session.flush()
    after_withdrawal(session, lower, actor, now)
    return lower.number


def release_unit(
    session: Session, incident_id: int, unit_id: int, reason: str, user: Person, *, to_station: bool = False
) -> Incident:
    """The dispatcher takes a unit back from an incident (wrong unit, not needed, needed
    elsewhere): it becomes available, the crew's phone shows it, the incident goes back to the
    queue when nobody else is on it."""
    incident = lock_incident(session, incident_id)
    held = session.scalar(
        select(Assignment).where(
            Assignment.incident_id == incident.id, Assignment.unit_id == unit_id, Assignment.active
        )
    )
    if held is None:
        unit = get_unit(session, unit_id)
        session.rollback()
        raise Conflict(f"unit {unit.callsign} is not committed to {incident.number}", "unit_id")
    now, actor = clock.now(), actor_of(user)
    withdraw_unit(
        session,
        held,
        UnitStatus.AVAILABLE,
        actor,
        now,
        reason=reason,
        by="dispatcher",
        data={"return_to_station": True} if to_station else None,
    )
    session.flush()
    after_withdrawal(session, incident, actor, now)
    session.commit()
    session.refresh(incident)
    return incident


def decline_assignment(
    session: Session,
    unit_id: int,
    reason: DeclineReason,
    note: str | None,
    user: Person | None,
    estimator: TravelTimes,
    *,
    stale_after_s: float,
    actor: str | None = None,
    code: str | None = None,
) -> dict[str, object]:
    """The crew says it cannot go ("tidak bisa"): the unit leaves the incident (out of service
    when broken or busy elsewhere), and every dispatcher gets an alert with the next unit to send.
    Returns the alert. `user` None: the crew answered from its job link (`code`: that job only)."""
    unit = get_unit(session, unit_id)
    if user is not None and user.role is Role.CREW and user.unit_id != unit.id:
        raise Forbidden("a crew declines only its own unit's job", "unit_id")
    held = session.scalar(select(Assignment).where(Assignment.unit_id == unit.id, Assignment.active))
    if held is None:
        raise Conflict(f"unit {unit.callsign} has no job to decline", "unit_id")
    incident = lock_incident(session, held.incident_id)
    held = session.scalar(select(Assignment).where(Assignment.unit_id == unit_id, Assignment.active))
    status = UnitStatus(get_unit(session, unit_id).status)
    if held is None or held.incident_id != incident.id or (code is not None and held.crew_code != code):
        session.rollback()
        raise Conflict("the job changed meanwhile; reload", "unit_id")
    if status not in PREEMPTABLE:
        session.rollback()
        raise Conflict(f"unit {unit.callsign} is {status}: a job is declined before reaching the scene", "status")
    now, actor = clock.now(), actor or actor_of(user)
    after = STATUS_AFTER_DECLINE[reason]
    withdraw_unit(
        session,
        held,
        after,
        actor,
        now,
        reason=str(reason),
        by="crew" if user is None or user.role is Role.CREW else "dispatcher",
        kind=EventKind.UNIT_DECLINED,
        data={"note": note} if note else None,
    )
    session.flush()
    after_withdrawal(session, incident, actor, now)
    offer = None
    if incident.lat is not None and incident.lon is not None:
        # the best unit other than the one that declined: two rows are enough
        ranked = recommend(session, incident.id, estimator, stale_after_s=stale_after_s, now=now, limit=2).ranked
        offer = next((r for r in ranked if r.unit_id != unit_id), None)
    alert: dict[str, object] = {
        "kind": "declined",
        "incident_id": incident.id,
        "incident_number": incident.number,
        "unit_id": unit_id,
        "callsign": unit.callsign,
        "reason": str(reason),
        "note": note,
        "unit_status": str(after),
        "next_unit_id": offer.unit_id if offer else None,
        "next_callsign": offer.callsign if offer else None,
        "next_eta_s": offer.eta_s if offer else None,
    }
    publish_after_commit(session, "alert", alert)
    session.commit()
    return alert


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
    user: Person | None,
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
    if not move_unit(session, unit.id, current, new, now):
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
        ranked = recommend(session, incident.id, estimator, stale_after_s=stale_after_s, now=now, limit=1).ranked
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
