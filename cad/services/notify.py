"""The crew's notify service: the assignment's link, telling the crew after the assignment commits
(event stream, SMS with the link, the acknowledgement timer), the crew's own acknowledgement by link
or SMS, and the route that follows the congestion.

No Flask: the adapter (`cad/api/crew.py`) hands in the session, the SMS sender, the timers, the
router and the settings. None of it can undo an assignment: a failure after it is logged with the
incident number and the dispatcher still sees the unit assigned."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cad import clock
from cad.config import Settings
from cad.domain.errors import NotFound
from cad.domain.incidents import INCIDENT_TYPE_LABELS, IncidentType
from cad.domain.timeline import EventKind
from cad.events import publish_after_commit
from cad.models import Assignment, Unit
from cad.timeline import record_event
from dispatch.timers import ack_deadline, parse_ack_timeouts
from dispatch.units import UnitStatus

if TYPE_CHECKING:
    from routing import Router
    from telephony.sms_sender import SmsSender

log = logging.getLogger(__name__)

ACK_WORDS = frozenset({"OK", "YA", "TERIMA", "SIAP", "1", "ACK"})
EN_ROUTE = (UnitStatus.ASSIGNED, UnitStatus.ACKNOWLEDGED, UnitStatus.EN_ROUTE)


def crew_code() -> str:
    """An unguessable code: the crew's link to one assignment, and nothing else."""
    return secrets.token_urlsafe(9)


def assignment_by_code(session: Session, code: str) -> Assignment:
    # a code with NUL (which no column takes) is no code of ours: not asked of the database
    assignment = session.scalar(select(Assignment).where(Assignment.crew_code == code)) if "\x00" not in code else None
    if assignment is None:
        raise NotFound("this link is not valid (or the job was reassigned)", "code")
    return assignment


def crew_sms(assignment: Assignment, link: str) -> str:
    incident = assignment.incident
    label = INCIDENT_TYPE_LABELS[IncidentType(incident.type)]["id"].upper()
    where = incident.address or (
        f"{incident.lat:.5f},{incident.lon:.5f}" if incident.lat is not None else "lihat tautan"
    )
    return f"112 {incident.number} {label} P{incident.priority}: {where}. {link} Balas OK untuk terima."


def record_notified(session: Session, assignment_id: int, channels: dict[str, str]) -> None:
    """The crew has been told (event stream always; SMS with Twilio's status)."""
    assignment = session.get_one(Assignment, assignment_id)
    now = clock.now()
    assignment.notified_at = now
    record_event(
        session,
        EventKind.UNIT_NOTIFIED,
        at=now,
        actor="system",
        incident_id=assignment.incident_id,
        unit_id=assignment.unit_id,
        data=channels,
    )
    session.commit()


def crew_unit_for_phone(session: Session, phone: str) -> Unit | None:
    return session.scalar(select(Unit).where(Unit.crew_phone == phone))


def active_assignment_of(session: Session, unit_id: int) -> Assignment | None:
    return session.scalar(select(Assignment).where(Assignment.unit_id == unit_id, Assignment.active))


@dataclass(frozen=True)
class RouteUpdate:
    assignment_id: int
    unit_id: int
    changed: bool
    route: dict[str, Any]


def route_signature(route: dict[str, Any]) -> str:
    coords = route["geometry"]["coordinates"]
    return hashlib.sha1(json.dumps([[round(x, 5), round(y, 5)] for x, y in coords]).encode()).hexdigest()


def remember_route(
    session: Session, assignment: Assignment, route: dict[str, Any], reason: str, *, commit: bool = True
) -> RouteUpdate:
    """Keep the route the crew was given; a different one is announced on the event stream (once
    committed: `commit=False` leaves that to the caller's use case)."""
    signature = route_signature(route)
    changed = assignment.route_signature is not None and signature != assignment.route_signature
    first = assignment.route_signature is None
    assignment.route_signature, assignment.route_eta_s = signature, route["eta_s"]
    if changed:
        record_event(
            session,
            EventKind.ROUTE_CHANGED,
            actor="system",
            incident_id=assignment.incident_id,
            unit_id=assignment.unit_id,
            data={"eta_s": route["eta_s"], "reason": reason, "eta_free_flow_s": route["eta_free_flow_s"]},
        )
    if changed or first:
        publish_after_commit(
            session,
            "route",
            {
                "unit_id": assignment.unit_id,
                "assignment_id": assignment.id,
                "eta_s": route["eta_s"],
                "changed": changed,
                "reason": reason,
            },
        )
    if commit:
        session.commit()
    return RouteUpdate(assignment.id, assignment.unit_id, changed, route)


def moving_assignments(session: Session) -> list[Assignment]:
    """Assignments whose crew is still on the way (their route can still change)."""
    return list(
        session.scalars(
            select(Assignment)
            .join(Unit, Unit.id == Assignment.unit_id)
            .where(Assignment.active, Unit.status.in_(EN_ROUTE))
        )
    )


class AckTimers(Protocol):
    """Sets (or moves) an assignment's acknowledgement timer."""

    def schedule(self, assignment_id: int, run_at: datetime) -> None: ...


#: The router when it is needed (loaded on first use: the SMS goes before it is asked for).
RouterSource = Callable[[], "Router | None"]


def unit_origin(unit: Unit, now: datetime, stale_after_s: float) -> tuple[float, float] | None:
    """Where the unit is: its fresh GPS fix, else its station."""
    if (
        unit.lat is not None
        and unit.lon is not None
        and unit.position_at is not None
        and (now - unit.position_at).total_seconds() <= stale_after_s
    ):
        return unit.lat, unit.lon
    return (unit.station.lat, unit.station.lon) if unit.station is not None else None


def tell_crew(
    session: Session,
    assignment_id: int,
    *,
    settings: Settings,
    sms: SmsSender,
    link_base: str,
    timers: AckTimers,
    router: RouterSource,
) -> None:
    """After the assignment committed: the crew is told (SMS with its link when it has a phone),
    that is recorded (committed before anything else may fail), it gets its route, and the
    acknowledgement timer is set."""
    assignment = session.get_one(Assignment, assignment_id)
    unit, incident = assignment.unit, assignment.incident
    channels = {"stream": "sent"}
    if unit.crew_phone:
        link = f"{link_base.rstrip('/')}/c/{assignment.crew_code or ''}"
        sent = sms.send(unit.crew_phone, crew_sms(assignment, link))
        channels["sms"] = sent.status
        if sent.sid:
            channels["sms_sid"] = sent.sid
    record_notified(session, assignment.id, channels)
    give_route(session, assignment, "assigned", router(), settings.position_stale_s)
    try:
        deadline = ack_deadline(assignment.assigned_at, incident.priority, parse_ack_timeouts(settings.ack_timeouts))
        timers.schedule(assignment.id, deadline)
    except Exception:  # the unit is assigned whatever happens to its timer
        log.exception("acknowledgement timer not set for %s on %s", unit.callsign, incident.number)


def give_route(
    session: Session,
    assignment: Assignment,
    reason: str,
    router: Router | None,
    stale_after_s: float,
    *,
    commit: bool = True,
) -> dict[str, Any] | None:
    """The crew's route from where the unit is to the incident, kept (a changed one announced)."""
    from cad.roads import route_for_unit  # the road graph's modules (numpy, scipy) come with a route

    incident, unit = assignment.incident, assignment.unit
    destination = (incident.lat, incident.lon) if incident.lat is not None and incident.lon is not None else None
    route = route_for_unit(router, str(unit.type), unit_origin(unit, clock.now(), stale_after_s), destination)
    if route is not None:
        remember_route(session, assignment, route, reason, commit=commit)
    return route


def reroute_moving_units(session: Session, reason: str, router: Router | None, stale_after_s: float) -> int:
    """After new congestion: every crew still on the way gets its route again; changes are announced.
    One commit for them all (the reading that caused it was committed before)."""
    changed = 0
    for assignment in moving_assignments(session):
        before = assignment.route_signature
        give_route(session, assignment, reason, router, stale_after_s, commit=False)
        changed += int(before is not None and assignment.route_signature != before)
    session.commit()
    return changed
