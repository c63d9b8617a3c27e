"""Alerts every dispatcher sees until someone acts on them (`cad.services.alerts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from cad import clock
from cad.api import api
from cad.api import schemas as s
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.models import Role
from cad.services import alerts

DISPATCHERS = (Role.DISPATCHER, Role.ADMIN)


class AlertOut(s.Reply):
    id: str
    kind: Literal["unassigned", "ack_overdue"]
    incident_id: int
    incident_number: str
    incident_type: str
    priority: int
    level: int
    since: datetime  # since when it has waited: the incident's creation, or the assignment
    alerted_at: datetime | None
    waiting_s: float
    assignment_id: int | None = None
    unit_id: int | None = None
    callsign: str | None = None
    next_unit_id: int | None = None
    next_callsign: str | None = None
    next_eta_s: float | None = None


class AlertAcknowledged(s.Reply):
    id: str
    alert: Literal["unassigned", "ack_overdue"]
    incident_id: int
    incident_number: str
    level: int
    acknowledged_by: str
    acknowledged_at: datetime


@operation(
    api,
    "/alerts",
    "GET",
    summary="The open alerts (unassigned urgent incidents, overdue acknowledgements), most urgent first",
    roles=DISPATCHERS,
    response=list[AlertOut],
)
def list_alerts(user: Person) -> list[dict[str, Any]]:
    return alerts.open_alerts(db.session, clock.now())


@operation(
    api,
    "/alerts/<alert_id>/acknowledge",
    "POST",
    summary="Acknowledge an alert (unassigned-<incident id> or ack_overdue-<assignment id>): on the timeline with who",
    roles=DISPATCHERS,
    response=AlertAcknowledged,
    errors=(400, 404, 409),
)
def acknowledge_alert(user: Person, alert_id: str) -> dict[str, Any]:
    return alerts.acknowledge_alert(db.session, alert_id, user, clock.now())
