"""After an assignment commits: tell the crew (event stream, SMS with their link), give them
the route, and set the acknowledgement timer. None of it can undo the assignment: a failure
here is logged with the incident number and the dispatcher still sees the unit assigned."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app, request

from cad import clock
from cad.db import db
from cad.models import Assignment, Unit
from cad.roads import route_for_unit
from cad.services.notify import crew_sms, moving_assignments, record_notified, remember_route
from dispatch.timers import ack_deadline, parse_ack_timeouts

log = logging.getLogger(__name__)


def crew_link(code: str) -> str:
    base = current_app.config["WARROOM"].public_url or request.host_url
    return f"{base.rstrip('/')}/c/{code}"


def unit_origin(unit: Unit, now: datetime) -> tuple[float, float] | None:
    """Where the unit is: its fresh GPS fix, else its station."""
    stale_s = current_app.config["WARROOM"].position_stale_s
    if (
        unit.lat is not None
        and unit.lon is not None
        and unit.position_at is not None
        and (now - unit.position_at).total_seconds() <= stale_s
    ):
        return unit.lat, unit.lon
    return (unit.station.lat, unit.station.lon) if unit.station is not None else None


def tell_crew(assignment_id: int) -> None:
    assignment = db.session.get_one(Assignment, assignment_id)
    unit, incident = assignment.unit, assignment.incident
    channels = {"stream": "sent"}
    if unit.crew_phone:
        sent = current_app.extensions["warroom.sms"].send(
            unit.crew_phone, crew_sms(assignment, crew_link(assignment.crew_code or ""))
        )
        channels["sms"] = sent.status
        if sent.sid:
            channels["sms_sid"] = sent.sid
    record_notified(db.session, assignment.id, channels)
    give_route(assignment, "assigned")
    settings = current_app.config["WARROOM"]
    try:
        deadline = ack_deadline(assignment.assigned_at, incident.priority, parse_ack_timeouts(settings.ack_timeouts))
        current_app.extensions["warroom.timers"].schedule(assignment.id, deadline)
    except Exception:  # the unit is assigned whatever happens to its timer
        log.exception("acknowledgement timer not set for %s on %s", unit.callsign, incident.number)


def give_route(assignment: Assignment, reason: str) -> dict[str, object] | None:
    router = current_app.extensions["warroom.roads"].router(db.session)
    incident, unit = assignment.incident, assignment.unit
    destination = (incident.lat, incident.lon) if incident.lat is not None and incident.lon is not None else None
    route = route_for_unit(router, str(unit.type), unit_origin(unit, clock.now()), destination)
    if route is not None:
        remember_route(db.session, assignment, route, reason)
    return route


def reroute_moving_units(reason: str) -> int:
    """After new congestion: every crew still on the way gets its route again; changes are announced."""
    changed = 0
    for assignment in moving_assignments(db.session):
        before = assignment.route_signature
        give_route(assignment, reason)
        changed += int(before is not None and assignment.route_signature != before)
    return changed
