"""Use cases of incidents: create (numbered, from a call or not), edit, close with an outcome,
cancel, merge a duplicate into its incident.

Every write to an incident first takes its row (`lock_incident`: one UPDATE that bumps its
version): a close, an assignment, a release and an edit of the same incident run one after the
other, each seeing what the one before committed, so no incident is ever closed with a unit
still committed to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from cad import clock
from cad.domain.actors import Person, actor_of
from cad.domain.calls import CallDisposition
from cad.domain.errors import Conflict, InvalidInput, NotFound
from cad.domain.incidents import (
    OPEN_STATUSES,
    Disposition,
    IncidentStatus,
    IncidentType,
    MergeRefused,
    change_incident_status,
    check_merge,
    format_incident_number,
    status_after_unit_released,
)
from cad.domain.timeline import EventKind, incident_status_event
from cad.events import publish_after_commit
from cad.models import Assignment, Call, Camera, Incident, IncidentSequence, TimelineEvent, Unit
from cad.services.calls import Fix, caller_for, phone_or_error
from cad.timeline import record_event
from dispatch.units import COMMITTED, UnitStatus


@dataclass(frozen=True)
class NewIncident:
    type: IncidentType
    priority: int
    fix: Fix | None
    address: str | None = None
    district: str | None = None
    description: str | None = None
    caller_phone: str | None = None
    caller_name: str | None = None
    call_id: int | None = None


def next_incident_number(session: Session, prefix: str, day: date) -> str:
    """The next number of the day, atomic under concurrent writers (one upsert)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = IncidentSequence.__table__
    statement = (
        insert(table)
        .values(prefix=prefix, day=day, last=1)
        .on_conflict_do_update(index_elements=["prefix", "day"], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    sequence = session.execute(statement).scalar_one()
    return format_incident_number(prefix, day, sequence)


def create_incident(
    session: Session,
    new: NewIncident,
    user: Person | None,
    *,
    prefix: str,
    tz: str,
    actor: str | None = None,
    unlocated_ok: bool = False,
    commit: bool = True,
) -> Incident:
    """A numbered incident, with its call's stamps copied onto its timeline.

    `unlocated_ok` is for reports that arrive as text (SMS): the ticket opens at once and the
    call-taker places it when the conversation tells where.
    """
    call = None
    if new.call_id is not None:
        call = session.get(Call, new.call_id)
        if call is None:
            raise NotFound(f"no call {new.call_id}", "call_id")
        if call.incident_id is not None:
            raise Conflict(f"call {call.id} already belongs to incident {call.incident_id}", "call_id")
    caller = None
    if new.caller_phone:
        caller = caller_for(session, phone_or_error(new.caller_phone, "caller_phone"), new.caller_name)
    elif call is not None:
        caller = call.caller
    fix = new.fix
    if fix is None and call is not None and call.lat is not None and call.lon is not None:
        fix = Fix(call.lat, call.lon, call.location_accuracy_m, call.location_source or "manual", call.located_at)
    if fix is None and not new.address and not unlocated_ok:
        raise InvalidInput("the call has no location: give a location or an address", "location")
    now = clock.now()
    incident = Incident(
        number=next_incident_number(session, prefix, now.astimezone(ZoneInfo(tz)).date()),
        type=new.type,
        priority=new.priority,
        status=IncidentStatus.NEW,
        lat=fix.lat if fix else None,
        lon=fix.lon if fix else None,
        location_accuracy_m=fix.accuracy_m if fix else None,
        location_source=fix.source if fix else None,
        address=new.address,
        district=new.district or (district_near(session, fix.lat, fix.lon) if fix else None),
        description=new.description,
        caller_id=caller.id if caller else None,
        created_at=now,
        created_by_id=user.id if user else None,
    )
    session.add(incident)
    session.flush()
    actor = actor or actor_of(user)
    if call is not None:
        _link_call(session, incident, call, actor)
    record_event(
        session,
        EventKind.INCIDENT_CREATED,
        at=now,
        actor=actor,
        incident_id=incident.id,
        data={"type": str(new.type), "priority": new.priority, "number": incident.number},
    )
    publish_after_commit(session, "incident", {"id": incident.id, "number": incident.number, "status": incident.status})
    if commit:
        session.commit()
    return incident


#: How far the nearest camera may be for its district to name an incident's.
DISTRICT_RADIUS_M = 5000.0


def district_near(session: Session, lat: float, lon: float) -> str | None:
    """The district of the nearest camera that has one (cameras are placed per district on any
    extract), within DISTRICT_RADIUS_M; reports group incidents by it."""
    import math

    best: tuple[float, str] | None = None
    scale = math.cos(math.radians(lat))
    for c_lat, c_lon, district in session.execute(
        select(Camera.lat, Camera.lon, Camera.district).where(Camera.district.is_not(None))
    ):
        d_m = 111_195.0 * math.hypot(c_lat - lat, (c_lon - lon) * scale)
        if d_m <= DISTRICT_RADIUS_M and (best is None or d_m < best[0]):
            best = (d_m, district)
    return best[1] if best else None


def _link_call(session: Session, incident: Incident, call: Call, actor: str) -> None:
    """The call's own stamps become the incident's first events (reports start the clock there)."""
    call.incident_id = incident.id
    call.disposition = CallDisposition.INCIDENT
    for kind, at in ((EventKind.CALL_RECEIVED, call.received_at), (EventKind.CALL_ANSWERED, call.answered_at)):
        if at is not None:  # a call linked before anyone answered it has no answer to stamp
            record_event(
                session, kind, at=at, actor=actor, incident_id=incident.id, call_id=call.id, source=str(call.channel)
            )
    record_event(session, EventKind.CALL_LINKED, actor=actor, incident_id=incident.id, call_id=call.id)


def get_incident(session: Session, incident_id: int, field: str = "incident_id") -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"no incident {incident_id}", field)
    return incident


def list_incidents(session: Session, status: str | None, limit: int) -> list[Incident]:
    query = (
        select(Incident)
        .options(selectinload(Incident.assignments).selectinload(Assignment.unit), selectinload(Incident.caller))
        .order_by(Incident.priority, Incident.created_at)
        .limit(limit)
    )
    if status == "open":
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    elif status:
        query = query.where(Incident.status == IncidentStatus(status))
    return list(session.scalars(query))


def lock_incident(session: Session, incident_id: int, field: str = "incident_id") -> Incident:
    """Take the incident's row for this transaction (PostgreSQL: a row lock; SQLite: the write
    lock) and read it as it is now; a second writer waits here until this one commits."""
    bumped = session.execute(
        sa.update(Incident)
        .where(Incident.id == incident_id)
        .values(version=Incident.version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if bumped != 1:
        raise NotFound(f"no incident {incident_id}", field)
    session.expire_all()  # anything read before the lock may be stale
    return get_incident(session, incident_id, field)


def active_assignments_of(session: Session, incident_id: int) -> list[Assignment]:
    """The incident's committed units, read from the table (not a collection loaded earlier)."""
    return list(
        session.scalars(
            select(Assignment).where(Assignment.incident_id == incident_id, Assignment.active).order_by(Assignment.id)
        )
    )


#: Fields an edit may change, and whether they may be cleared (set to null).
EDITABLE = {
    "type": False,
    "priority": False,
    "location": False,
    "address": True,
    "district": True,
    "description": True,
    "caller_phone": True,
    "caller_name": True,
}


@dataclass(frozen=True)
class IncidentEdit:
    """What an edit sets: only the fields in `given` (a field given as None is cleared)."""

    given: frozenset[str]
    type: IncidentType | None = None
    priority: int | None = None
    fix: Fix | None = None
    address: str | None = None
    district: str | None = None
    description: str | None = None
    caller_phone: str | None = None
    caller_name: str | None = None
    version: int | None = None  # the version the editor saw: a later change makes this a 409


def edit_incident(session: Session, incident_id: int, edit: IncidentEdit, user: Person) -> tuple[Incident, dict]:
    """Correct an open incident; every changed field goes on the timeline with its old and new
    value. Returns the incident and the changes ({} when nothing differed)."""
    for name in edit.given:
        if name in EDITABLE and not EDITABLE[name] and getattr(edit, "fix" if name == "location" else name) is None:
            raise InvalidInput(f"{name} cannot be removed, only changed", name)
    incident = lock_incident(session, incident_id)
    if edit.version is not None and incident.version - 1 != edit.version:
        session.rollback()
        raise Conflict(
            f"incident {incident.number} was changed by someone else meanwhile; reload it and edit again", "version"
        )
    if incident.status not in OPEN_STATUSES:
        session.rollback()
        raise Conflict(f"incident {incident.number} is {incident.status}; only an open incident is edited", "status")
    changes: dict[str, list[object]] = {}

    def put(name: str, value: object, current: object) -> None:
        if value != current:
            changes[name] = [current, value]

    if "type" in edit.given:
        put("type", str(edit.type), str(incident.type))
        incident.type = IncidentType(str(edit.type))
    if "priority" in edit.given:
        put("priority", edit.priority, incident.priority)
        incident.priority = int(edit.priority or incident.priority)
    if "location" in edit.given and edit.fix is not None:
        fix = edit.fix
        before = {"lat": incident.lat, "lon": incident.lon} if incident.lat is not None else None
        put("location", {"lat": fix.lat, "lon": fix.lon}, before)
        incident.lat, incident.lon = fix.lat, fix.lon
        incident.location_accuracy_m, incident.location_source = fix.accuracy_m, fix.source
        if "district" not in edit.given:
            district = district_near(session, fix.lat, fix.lon)
            put("district", district, incident.district)
            incident.district = district
    for name in ("address", "district", "description"):
        if name in edit.given:
            value = getattr(edit, name)
            put(name, value, getattr(incident, name))
            setattr(incident, name, value)
    if "caller_phone" in edit.given or "caller_name" in edit.given:
        phone = (
            edit.caller_phone if "caller_phone" in edit.given else (incident.caller.phone if incident.caller else None)
        )
        name = edit.caller_name if "caller_name" in edit.given else (incident.caller.name if incident.caller else None)
        before = {"phone": incident.caller.phone, "name": incident.caller.name} if incident.caller else None
        caller = caller_for(session, phone_or_error(phone, "caller_phone"), name) if phone else None
        after = {"phone": caller.phone, "name": caller.name} if caller else None
        put("caller", after, before)
        incident.caller_id = caller.id if caller else None
    if not changes:
        session.rollback()  # nothing to record: the version stays
        return get_incident(session, incident_id), {}
    now, actor = clock.now(), actor_of(user)
    record_event(
        session, EventKind.INCIDENT_UPDATED, at=now, actor=actor, incident_id=incident.id, data={"changes": changes}
    )
    publish_after_commit(
        session,
        "incident",
        {"id": incident.id, "status": incident.status, "changed": sorted(changes), "version": incident.version},
    )
    session.commit()
    session.refresh(incident)
    return incident, changes


def finish_incident(
    session: Session,
    incident_id: int,
    requested: IncidentStatus,
    reason: str | None,
    user: Person,
    *,
    disposition: Disposition | None = None,
    release_units: bool = False,
) -> Incident:
    """Close (with its outcome) or cancel an incident. Cancelling releases its units; closing
    releases them only when asked to (`release_units`, the dispatcher saw them on screen):
    otherwise an incident with a unit still committed is not closed, a 409 names the units."""
    if requested is IncidentStatus.CLOSED and disposition is None:
        raise InvalidInput("say how the incident ended to close it", "disposition")
    incident = lock_incident(session, incident_id)
    active = active_assignments_of(session, incident.id)
    release = requested is IncidentStatus.CANCELLED or release_units
    try:
        new_status = change_incident_status(incident.status, requested, committed_units=0 if release else len(active))
    except Exception:
        session.rollback()
        raise
    now, actor = clock.now(), actor_of(user)
    why = "incident cancelled" if requested is IncidentStatus.CANCELLED else "incident closed"
    for assignment in active:
        withdraw_unit(session, assignment, UnitStatus.AVAILABLE, actor, now, reason=reason or why, by="dispatcher")
    incident.status, incident.closed_at = new_status, now
    if disposition is not None:
        incident.disposition = str(disposition)
    record_event(
        session,
        incident_status_event(new_status),
        at=now,
        actor=actor,
        incident_id=incident.id,
        data={
            **({"reason": reason} if reason else {}),
            **({"disposition": str(disposition)} if disposition else {}),
            **({"released": [a.unit_id for a in active]} if active else {}),
        },
    )
    publish_after_commit(
        session, "incident", {"id": incident.id, "status": new_status, "disposition": incident.disposition}
    )
    session.commit()
    session.refresh(incident)
    return incident


def merge_incident(session: Session, duplicate_id: int, into_id: int, user: Person) -> Incident:
    """A second incident about the same emergency joins the first: its calls and its committed
    units move there, its timeline is shown with the first's, and it is closed as `ganda`.
    Returns the incident that lives on."""
    if duplicate_id == into_id:
        raise InvalidInput("an incident cannot be merged into itself", "into")
    first, second = sorted((duplicate_id, into_id))  # two merges crossing take the rows in one order
    lock_incident(session, first, "incident_id" if first == duplicate_id else "into")
    lock_incident(session, second, "incident_id" if second == duplicate_id else "into")
    duplicate, into = get_incident(session, duplicate_id), get_incident(session, into_id, "into")
    try:
        check_merge(
            duplicate.status in OPEN_STATUSES,
            into.status in OPEN_STATUSES,
            duplicate.id == into.id,
            into.merged_into_id is not None,
        )
    except MergeRefused as error:
        session.rollback()
        raise Conflict(str(error), "into") from None
    now, actor = clock.now(), actor_of(user)
    calls = list(session.scalars(select(Call).where(Call.incident_id == duplicate.id)))
    for call in calls:
        call.incident_id = into.id
    moved = active_assignments_of(session, duplicate.id)
    for assignment in moved:
        assignment.incident_id = into.id
        publish_after_commit(
            session, "assignment", {"id": assignment.id, "incident_id": into.id, "unit_id": assignment.unit_id}
        )
    duplicate.status, duplicate.closed_at = IncidentStatus.CLOSED, now
    duplicate.disposition, duplicate.merged_into_id = str(Disposition.DUPLICATE), into.id
    summary = {
        "number": duplicate.number,
        "into_number": into.number,
        "calls": [c.id for c in calls],
        "units": [a.unit_id for a in moved],
    }
    record_event(session, EventKind.INCIDENT_MERGED, at=now, actor=actor, incident_id=duplicate.id, data=summary)
    record_event(session, EventKind.DUPLICATE_MERGED, at=now, actor=actor, incident_id=into.id, data=summary)
    record_event(
        session,
        EventKind.INCIDENT_CLOSED,
        at=now,
        actor=actor,
        incident_id=duplicate.id,
        data={"disposition": str(Disposition.DUPLICATE), "merged_into": into.number},
    )
    if moved and into.status is IncidentStatus.NEW:
        into.status = IncidentStatus.DISPATCHED
        record_event(session, EventKind.INCIDENT_DISPATCHED, at=now, actor=actor, incident_id=into.id)
    publish_after_commit(
        session,
        "incident",
        {
            "id": duplicate.id,
            "status": IncidentStatus.CLOSED,
            "disposition": duplicate.disposition,
            "merged_into": into.id,
        },
    )
    publish_after_commit(session, "incident", {"id": into.id, "status": into.status, "merged": duplicate.id})
    session.commit()
    session.refresh(into)
    return into


def timeline_of(session: Session, incident: Incident) -> list[TimelineEvent]:
    """The incident's timeline, with those of the duplicates merged into it (each event keeps
    the incident it was written for)."""
    ids, frontier = {incident.id}, [incident.id]
    while frontier:  # duplicates of duplicates too
        frontier = list(session.scalars(select(Incident.id).where(Incident.merged_into_id.in_(frontier))))
        frontier = [i for i in frontier if i not in ids]
        ids.update(frontier)
    return list(
        session.scalars(
            select(TimelineEvent).where(TimelineEvent.incident_id.in_(ids)).order_by(TimelineEvent.at, TimelineEvent.id)
        )
    )


def move_unit(session: Session, unit_id: int, current: UnitStatus, new: UnitStatus, at: datetime) -> bool:
    """Put the unit in `new` only if it is still in `current` (one conditional UPDATE, so of two
    racing changes one wins and the other learns it lost); True when it moved."""
    moved: int = session.execute(
        sa.update(Unit)
        .where(Unit.id == unit_id, Unit.status == current)
        .values(status=new, status_changed_at=at)
        .execution_options(synchronize_session=False)
    ).rowcount
    return moved == 1


def withdraw_unit(
    session: Session,
    assignment: Assignment,
    after: UnitStatus,
    actor: str,
    now: datetime,
    *,
    reason: str,
    by: str,
    kind: EventKind | None = None,
    data: dict[str, object] | None = None,
) -> None:
    """End a unit's assignment before its work is done and put the unit in `after`: one
    conditional UPDATE on the unit (the status it has now) and one on the assignment (still
    active), so a crew's status change or a second dispatcher racing this gets a 409 instead of
    both succeeding. A unit that reached the scene is recorded cleared, else released."""
    unit = session.get_one(Unit, assignment.unit_id)
    current = UnitStatus(unit.status)
    if current not in COMMITTED:
        session.rollback()
        raise Conflict(f"unit {unit.callsign} is {current}, not committed", "unit_id")
    moved = move_unit(session, unit.id, current, after, now)
    ended = session.execute(
        sa.update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.active)
        .values(active=False, cleared_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved or ended != 1:
        session.rollback()
        raise Conflict(f"unit {unit.callsign} changed meanwhile; reload and try again", "unit_id")
    session.expire(unit)
    session.expire(assignment)
    if kind is None:
        kind = EventKind.UNIT_CLEARED if assignment.on_scene_at is not None else EventKind.UNIT_RELEASED
    record_event(
        session,
        kind,
        at=now,
        actor=actor,
        incident_id=assignment.incident_id,
        unit_id=assignment.unit_id,
        data={"reason": reason, "by": by, "from": str(current), "to": str(after), **(data or {})},
    )
    publish_after_commit(
        session,
        "assignment",
        {
            "id": assignment.id,
            "incident_id": assignment.incident_id,
            "unit_id": assignment.unit_id,
            "active": False,
            "reason": reason,
        },
    )
    publish_after_commit(session, "unit", {"id": assignment.unit_id, "status": after})


def after_withdrawal(session: Session, incident: Incident, actor: str, now: datetime) -> None:
    """A unit left the incident: one nobody reached, with no unit left, is back in the queue."""
    left = active_assignments_of(session, incident.id)
    reached = session.scalar(
        select(sa.func.count()).where(Assignment.incident_id == incident.id, Assignment.on_scene_at.is_not(None))
    )
    after = status_after_unit_released(incident.status, len(left), bool(reached))
    if after is not incident.status:
        change_incident_status(incident.status, after)
        incident.status = after
        record_event(session, incident_status_event(after), at=now, actor=actor, incident_id=incident.id)
        publish_after_commit(session, "incident", {"id": incident.id, "status": after})
