"""Use cases of incidents: create (numbered, from a call or not), close, cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from cad import clock
from cad.auth import actor_of
from cad.domain.calls import CallDisposition
from cad.domain.incidents import (
    OPEN_STATUSES,
    IncidentStatus,
    IncidentType,
    change_incident_status,
    format_incident_number,
)
from cad.domain.timeline import EventKind, incident_status_event
from cad.errors import Conflict, InvalidInput, NotFound
from cad.events import publish_after_commit
from cad.models import Assignment, Call, Camera, Incident, IncidentSequence, Unit, User
from cad.services.calls import Fix, caller_for, phone_or_error
from cad.timeline import record_event
from dispatch.units import UnitStatus


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
    user: User | None,
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
    record_event(
        session,
        EventKind.CALL_RECEIVED,
        at=call.received_at,
        actor=actor,
        incident_id=incident.id,
        call_id=call.id,
        source=str(call.channel),
    )
    if call.answered_at is not None:
        record_event(
            session,
            EventKind.CALL_ANSWERED,
            at=call.answered_at,
            actor=actor,
            incident_id=incident.id,
            call_id=call.id,
            source=str(call.channel),
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


def finish_incident(
    session: Session, incident_id: int, requested: IncidentStatus, reason: str | None, user: User
) -> Incident:
    """Close (every unit cleared) or cancel (units released) an incident."""
    incident = get_incident(session, incident_id)
    active = [a for a in incident.assignments if a.active]
    new_status = change_incident_status(
        incident.status, requested, committed_units=len(active) if requested is IncidentStatus.CLOSED else 0
    )
    now, actor = clock.now(), actor_of(user)
    for assignment in active:  # cancelling: every committed unit goes back to available
        _release(session, assignment, actor, now, reason="incident cancelled")
    moved = session.execute(
        sa.update(Incident)
        .where(Incident.id == incident.id, Incident.status == incident.status)
        .values(status=new_status, closed_at=now)
    ).rowcount
    if moved != 1:
        session.rollback()
        raise Conflict("the incident changed meanwhile; reload and try again", "status")
    record_event(
        session,
        incident_status_event(new_status),
        at=now,
        actor=actor,
        incident_id=incident.id,
        data={"reason": reason} if reason else {},
    )
    publish_after_commit(session, "incident", {"id": incident.id, "status": new_status})
    session.commit()
    session.refresh(incident)
    return incident


def _release(session: Session, assignment: Assignment, actor: str, now: datetime, reason: str) -> None:
    assignment.active, assignment.cleared_at = False, now
    unit = session.get(Unit, assignment.unit_id)
    if unit is not None:
        unit.status, unit.status_changed_at = UnitStatus.AVAILABLE, now
    record_event(
        session,
        EventKind.UNIT_CLEARED,
        at=now,
        actor=actor,
        incident_id=assignment.incident_id,
        unit_id=assignment.unit_id,
        data={"reason": reason},
    )
    publish_after_commit(session, "unit", {"id": assignment.unit_id, "status": UnitStatus.AVAILABLE})
