"""A second call about the same emergency: find the open incident it belongs to, and link it there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from cad.domain.actors import Person, actor_of
from cad.domain.errors import Conflict, InvalidInput
from cad.domain.incidents import OPEN_STATUSES, IncidentType
from cad.events import publish_after_commit
from cad.models import Assignment, Call, Incident
from cad.services.calls import get_call
from cad.services.incidents import _link_call, get_incident
from routing.geo import distance_m


@dataclass(frozen=True)
class Nearby:
    incident: Incident
    distance_m: float
    minutes_ago: float


def nearby_incidents(
    session: Session,
    lat: float,
    lon: float,
    at: datetime,
    *,
    incident_type: IncidentType | None,
    radius_m: float,
    window_s: float,
    limit: int = 5,
) -> list[Nearby]:
    """Open incidents within `radius_m` of the point, created within `window_s` before `at`,
    whatever their type (a fire reported as a medical call is still the same emergency):
    those of `incident_type` first when given, then nearest first."""
    # a box around the point first (an index-friendly filter), then the true distance
    dlat = radius_m / 111_320.0
    dlon = dlat / max(0.01, abs(math.cos(math.radians(lat))))
    query = (
        select(Incident)
        .options(selectinload(Incident.assignments).selectinload(Assignment.unit), selectinload(Incident.caller))
        .where(
            Incident.status.in_(OPEN_STATUSES),
            Incident.created_at >= at - timedelta(seconds=window_s),
            Incident.lat.between(lat - dlat, lat + dlat),
            Incident.lon.between(lon - dlon, lon + dlon),
        )
    )
    found = []
    for incident in session.scalars(query):
        distance = distance_m(lat, lon, incident.lat, incident.lon)
        if distance <= radius_m:
            found.append(
                Nearby(incident, round(distance, 1), round((at - incident.created_at).total_seconds() / 60, 1))
            )
    found.sort(key=lambda n: (incident_type is not None and n.incident.type != incident_type, n.distance_m))
    return found[:limit]


def link_call(session: Session, call_id: int, incident_id: int, user: Person) -> Call:
    """The call joins an open incident: its stamps go on that incident's timeline."""
    call = get_call(session, call_id)
    incident = get_incident(session, incident_id, "incident_id")
    if call.incident_id == incident.id:
        return call  # linked already: a double click changes nothing
    if call.incident_id is not None:
        raise Conflict(f"call {call.id} already belongs to incident {call.incident_id}", "call_id")
    if incident.status not in OPEN_STATUSES:
        raise InvalidInput(f"incident {incident.number} is {incident.status}: link to an open one", "incident_id")
    _link_call(session, incident, call, actor_of(user))
    publish_after_commit(session, "call", {"id": call.id, "incident_id": incident.id})
    publish_after_commit(session, "incident", {"id": incident.id, "status": incident.status, "linked_call": call.id})
    session.commit()
    return call
