"""Use cases of telling a crew: the assignment's link, the notification record, the crew's own
acknowledgement by link or SMS, and the route that follows the congestion."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cad import clock
from cad.domain.errors import NotFound
from cad.domain.incidents import INCIDENT_TYPE_LABELS, IncidentType
from cad.domain.timeline import EventKind
from cad.events import publish_after_commit
from cad.models import Assignment, Unit
from cad.timeline import record_event
from dispatch.units import UnitStatus

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


def remember_route(session: Session, assignment: Assignment, route: dict[str, Any], reason: str) -> RouteUpdate:
    """Keep the route the crew was given; a different one is announced on the event stream."""
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
