"""The kinds of event the incident timeline holds, stored by value (pure)."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    CALL_RECEIVED = "call_received"
    CALL_ANSWERED = "call_answered"
    CALL_ENDED = "call_ended"
    CALL_ABANDONED = "call_abandoned"
    CALL_LINKED = "call_linked"
    CALL_FLAGGED = "call_flagged"
    CALL_LOCATED = "call_located"
    CALL_QUEUED = "call_queued"
    CALL_CONNECTED = "call_connected"
    CALL_OVERFLOWED = "call_overflowed"
    CALL_DROPPED = "call_dropped"  # the SIP agent holding the call died: the line was cut
    INCIDENT_CREATED = "incident_created"
    INCIDENT_UPDATED = "incident_updated"
    INCIDENT_DISPATCHED = "incident_dispatched"
    INCIDENT_ON_SCENE = "incident_on_scene"
    INCIDENT_REOPENED = "incident_new"
    INCIDENT_CLOSED = "incident_closed"
    INCIDENT_CANCELLED = "incident_cancelled"
    UNIT_ASSIGNED = "unit_assigned"
    UNIT_NOTIFIED = "unit_notified"
    ACK_OVERDUE = "ack_overdue"
    UNASSIGNED_ALERT = "unassigned_alert"  # an urgent incident still without a unit: data.level 1, 2, 3 …
    ALERT_ACKNOWLEDGED = "alert_acknowledged"  # a dispatcher took an alert in hand: the actor is who
    ROUTE_CHANGED = "route_changed"
    UNIT_ACKNOWLEDGED = "unit_acknowledged"
    UNIT_EN_ROUTE = "unit_en_route"
    UNIT_ON_SCENE = "unit_on_scene"
    UNIT_TRANSPORTING = "unit_transporting"
    UNIT_AT_HOSPITAL = "unit_at_hospital"
    UNIT_CLEARED = "unit_cleared"
    UNIT_STATUS_CHANGED = "unit_status_changed"
    INCIDENT_MERGED = "incident_merged"  # on the duplicate: merged into `into_number`
    DUPLICATE_MERGED = "duplicate_merged"  # on the incident that lives on: `number` merged into it
    UNIT_RELEASED = "unit_released"  # withdrawn before reaching the scene (reason, by whom)
    UNIT_PREEMPTED = "unit_preempted"  # taken for a more urgent incident (`to_number`)
    UNIT_DECLINED = "unit_declined"  # the crew said it cannot go (reason)


def incident_status_event(status: str) -> EventKind:
    """The event that records an incident reaching `status`."""
    return EventKind(f"incident_{status}")
