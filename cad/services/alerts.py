"""Alerts every dispatcher sees until someone acts: an urgent incident nobody has sent a unit to
(`unassigned`, raised and escalated by the scheduler), and an assignment the crew has not
acknowledged (`ack_overdue`, raised by its timer in `dispatching.escalate_if_unacknowledged`).

Everything is kept in the timeline (`unassigned_alert` with its level, `ack_overdue`,
`alert_acknowledged` with who): an alert is open while its last raise has no acknowledgement
after it. Raising and acknowledging first lock the incident's row (a no-op UPDATE: a row lock on
PostgreSQL, the write lock on SQLite) and then read the timeline, so two schedulers, or two
dispatchers, racing on one incident write each level, and each acknowledgement, once.

An alert's id names what it is about: `unassigned-<incident id>`, `ack_overdue-<assignment id>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from cad.domain.actors import Person, actor_of
from cad.domain.errors import Conflict, InvalidInput, NotFound
from cad.domain.incidents import OPEN_STATUSES, IncidentStatus
from cad.domain.timeline import EventKind
from cad.events import publish_after_commit
from cad.models import Assignment, Incident, TimelineEvent
from cad.timeline import record_event
from dispatch.alerts import AlertState, is_open, next_alert

UNASSIGNED, ACK_OVERDUE = "unassigned", "ack_overdue"
KINDS = (UNASSIGNED, ACK_OVERDUE)
MAX_ROW_ID = 2_147_483_647  # ids fit a 32-bit column on every backend
MAX_ROW_ID = 2_147_483_647  # ids fit a 32-bit column on every backend


def parse_alert_id(alert_id: str) -> tuple[str, int]:
    """`unassigned-12` → ("unassigned", 12); InvalidInput names the field."""
    kind, _, number = alert_id.rpartition("-")
    if kind not in KINDS or not (number.isascii() and number.isdigit()) or len(number) > 18:
        expected = "expected unassigned-<incident id> or ack_overdue-<assignment id>"
        raise InvalidInput(f"alert {alert_id[:80]!r}: {expected}", "alert_id")
    if int(number) > MAX_ROW_ID:
        raise NotFound(f"no {'incident' if kind == UNASSIGNED else 'assignment'} {number}", "alert_id")
    return kind, int(number)


def _without_a_unit() -> sa.ColumnElement[bool]:
    """No unit on its way or at work: never sent one, or back in the queue (its unit called back,
    taken for a more urgent incident, or its crew could not go)."""
    return ~sa.exists().where(Assignment.incident_id == Incident.id, Assignment.active)


def _states(session: Session, incidents: Iterable[tuple[int, int, datetime]]) -> dict[int, AlertState]:
    """The unassigned-alert state of each (id, priority, created_at), from the timeline."""
    states = {i: AlertState(created_at=at, priority=p) for i, p, at in incidents}
    if not states:
        return states
    rows = session.execute(
        select(TimelineEvent.incident_id, TimelineEvent.kind, TimelineEvent.at, TimelineEvent.data)
        .where(
            TimelineEvent.incident_id.in_(states),
            TimelineEvent.kind.in_([EventKind.UNASSIGNED_ALERT, EventKind.ALERT_ACKNOWLEDGED]),
        )
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    for incident_id, kind, at, data in rows:
        s = states[incident_id]
        if kind == EventKind.UNASSIGNED_ALERT and int(data.get("level", 0)) > s.level:
            states[incident_id] = AlertState(s.created_at, s.priority, int(data["level"]), at, s.acknowledged_at)
        elif kind == EventKind.ALERT_ACKNOWLEDGED and data.get("alert") == UNASSIGNED:
            states[incident_id] = AlertState(s.created_at, s.priority, s.level, s.alerted_at, at)
    return states


def raise_unassigned_alerts(
    session: Session, now: datetime, thresholds: Mapping[int, float], every_s: float
) -> list[dict[str, Any]]:
    """The scheduler's sweep: alert (or alert again, one level up) for every open incident of an
    alerting priority without a unit and whose next level is due. Returns what it raised."""
    if not thresholds:
        return []
    rows = session.execute(
        select(Incident.id, Incident.priority, Incident.created_at).where(
            Incident.status == IncidentStatus.NEW,
            Incident.priority.in_(list(thresholds)),
            Incident.created_at <= now - timedelta(seconds=min(thresholds.values())),
            _without_a_unit(),
        )
    ).all()
    states = _states(session, [tuple(r) for r in rows])
    session.rollback()  # each raise is its own transaction, beginning with the lock
    raised = []
    for incident_id, state in states.items():
        due = next_alert(state, thresholds, every_s)
        if due is not None and due[1] <= now:
            alert = _raise_unassigned(session, incident_id, now, thresholds, every_s)
            if alert is not None:
                raised.append(alert)
    return raised


def _lock(session: Session, incident_id: int, status: IncidentStatus | None = None) -> bool:
    """Hold the incident's row until this transaction ends (and, with `status`, only if it still has it)."""
    query = sa.update(Incident).where(Incident.id == incident_id)
    if status is not None:
        query = query.where(Incident.status == status)
    locked: int = session.execute(
        query.values(status=Incident.status).execution_options(synchronize_session=False)
    ).rowcount
    return locked == 1


def _raise_unassigned(
    session: Session, incident_id: int, now: datetime, thresholds: Mapping[int, float], every_s: float
) -> dict[str, Any] | None:
    if not _lock(session, incident_id, IncidentStatus.NEW):
        session.rollback()
        return None
    incident = session.scalar(select(Incident).where(Incident.id == incident_id, _without_a_unit()))
    state = _states(session, [(incident.id, incident.priority, incident.created_at)])[incident.id] if incident else None
    due = next_alert(state, thresholds, every_s) if state else None
    if incident is None or due is None or due[1] > now:
        session.rollback()  # a unit was sent, or another scheduler raised this level first
        return None
    alert = _unassigned_alert(incident, due[0], now, now)
    record_event(
        session,
        EventKind.UNASSIGNED_ALERT,
        at=now,
        actor="scheduler",
        incident_id=incident.id,
        data={k: alert[k] for k in ("level", "waiting_s", "priority")},
    )
    publish_after_commit(session, "alert", _iso(alert))
    session.commit()
    return alert


def _unassigned_alert(incident: Incident, level: int, alerted_at: datetime, now: datetime) -> dict[str, Any]:
    return {
        "id": f"{UNASSIGNED}-{incident.id}",
        "kind": UNASSIGNED,
        "incident_id": incident.id,
        "incident_number": incident.number,
        "incident_type": str(incident.type),
        "priority": incident.priority,
        "level": level,
        "since": incident.created_at,
        "alerted_at": alerted_at,
        "waiting_s": round((now - incident.created_at).total_seconds(), 1),
    }


def _acknowledged_overdue(session: Session, incident_ids: Iterable[int]) -> dict[int, TimelineEvent]:
    """The acknowledgements of ack-overdue alerts on these incidents, by assignment id."""
    events = session.scalars(
        select(TimelineEvent).where(
            TimelineEvent.incident_id.in_(list(incident_ids)), TimelineEvent.kind == EventKind.ALERT_ACKNOWLEDGED
        )
    )
    return {int(e.data["assignment_id"]): e for e in events if e.data.get("alert") == ACK_OVERDUE}


def _overdue_alert(assignment: Assignment, raised: TimelineEvent | None, now: datetime) -> dict[str, Any]:
    incident, offer = assignment.incident, (raised.data if raised else {})
    return {
        "id": f"{ACK_OVERDUE}-{assignment.id}",
        "kind": ACK_OVERDUE,
        "incident_id": incident.id,
        "incident_number": incident.number,
        "incident_type": str(incident.type),
        "priority": incident.priority,
        "level": 1,
        "since": assignment.assigned_at,
        "alerted_at": assignment.ack_alerted_at,
        "waiting_s": round((now - assignment.assigned_at).total_seconds(), 1),
        "assignment_id": assignment.id,
        "unit_id": assignment.unit_id,
        "callsign": assignment.unit.callsign,
        "next_unit_id": offer.get("next_unit_id"),
        "next_callsign": offer.get("next_callsign"),
        "next_eta_s": offer.get("next_eta_s"),
    }


def open_alerts(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Every alert nobody has acknowledged and that still stands, most urgent first (what a console
    shows when it opens or reconnects)."""
    incidents = list(
        session.scalars(
            select(Incident).where(
                Incident.status == IncidentStatus.NEW,
                _without_a_unit(),
                sa.exists().where(
                    TimelineEvent.incident_id == Incident.id, TimelineEvent.kind == EventKind.UNASSIGNED_ALERT
                ),
            )
        )
    )
    states = _states(session, [(i.id, i.priority, i.created_at) for i in incidents])
    alerts = [
        _unassigned_alert(i, states[i.id].level, states[i.id].alerted_at or now, now)
        for i in incidents
        if is_open(states[i.id])
    ]
    overdue = list(
        session.scalars(
            select(Assignment)
            .join(Incident, Incident.id == Assignment.incident_id)
            .where(
                Assignment.active,
                Assignment.acknowledged_at.is_(None),
                Assignment.ack_alerted_at.is_not(None),
                Incident.status.in_(list(OPEN_STATUSES)),
            )
        )
    )
    if overdue:
        incident_ids = {a.incident_id for a in overdue}
        handled = _acknowledged_overdue(session, incident_ids)
        raised = {
            int(e.data["assignment_id"]): e
            for e in session.scalars(
                select(TimelineEvent).where(
                    TimelineEvent.incident_id.in_(incident_ids), TimelineEvent.kind == EventKind.ACK_OVERDUE
                )
            )
            if "assignment_id" in e.data
        }
        alerts += [_overdue_alert(a, raised.get(a.id), now) for a in overdue if a.id not in handled]
    alerts.sort(key=lambda a: (a["priority"], a["since"]))
    return alerts


def acknowledge_alert(session: Session, alert_id: str, user: Person, now: datetime) -> dict[str, Any]:
    """A dispatcher takes the alert in hand: `alert_acknowledged` on the incident's timeline with who,
    and every console drops it. A second acknowledgement is a Conflict naming who was first."""
    kind, number = parse_alert_id(alert_id)
    assignment = None
    if kind == ACK_OVERDUE:
        assignment = session.get(Assignment, number)
        if assignment is None:
            raise NotFound(f"no assignment {number}", "alert_id")
        incident_id = assignment.incident_id
    else:
        incident_id = number
    session.rollback()
    if not _lock(session, incident_id):
        session.rollback()
        raise NotFound(f"no incident {incident_id}", "alert_id")
    incident = session.get_one(Incident, incident_id)
    if kind == UNASSIGNED:
        if incident.status is not IncidentStatus.NEW or any(True for _ in incident.assignments):
            _refuse(session, f"incident {incident.number} has a unit or is no longer new: its alert has ended")
        state = _states(session, [(incident.id, incident.priority, incident.created_at)])[incident.id]
        if state.level == 0:
            _refuse(session, f"incident {incident.number} has not alerted")
        if not is_open(state):
            _refuse(session, _already(session, incident.id, UNASSIGNED, None))
        level, unit_id = state.level, None
    else:
        assert assignment is not None
        assignment = session.get_one(Assignment, number, populate_existing=True)
        if assignment.ack_alerted_at is None:
            _refuse(session, f"the assignment of {assignment.unit.callsign} has not alerted")
        if not assignment.active or assignment.acknowledged_at is not None:
            _refuse(session, f"{assignment.unit.callsign} acknowledged or was cleared: the alert has ended")
        if assignment.id in _acknowledged_overdue(session, [incident.id]):
            _refuse(session, _already(session, incident.id, ACK_OVERDUE, assignment.id))
        level, unit_id = 1, assignment.unit_id
    actor = actor_of(user)
    data: dict[str, Any] = {"alert_id": alert_id, "alert": kind, "level": level, "by": user.display_name}
    if assignment is not None:
        data["assignment_id"] = assignment.id
    record_event(
        session, EventKind.ALERT_ACKNOWLEDGED, at=now, actor=actor, incident_id=incident.id, unit_id=unit_id, data=data
    )
    out = {
        "id": alert_id,
        "kind": "acknowledged",
        "alert": kind,
        "incident_id": incident.id,
        "incident_number": incident.number,
        "level": level,
        "acknowledged_by": actor,
        "acknowledged_at": now,
    }
    publish_after_commit(session, "alert", _iso(out))
    session.commit()
    return out


def _iso(event: dict[str, Any]) -> dict[str, Any]:
    """Times as ISO 8601 for the consoles' scripts."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in event.items()}


def _refuse(session: Session, message: str) -> NoReturn:
    session.rollback()
    raise Conflict(message, "alert_id")


def _already(session: Session, incident_id: int, kind: str, assignment_id: int | None) -> str:
    events = session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == EventKind.ALERT_ACKNOWLEDGED)
        .order_by(TimelineEvent.at.desc(), TimelineEvent.id.desc())
    )
    for e in events:
        if e.data.get("alert") == kind and (assignment_id is None or e.data.get("assignment_id") == assignment_id):
            return f"already acknowledged by {e.actor} at {e.at.isoformat(timespec='seconds')}"
    return "already acknowledged"
