"""Alerts for urgent incidents nobody has sent a unit to, and acknowledging alerts: raised after the
threshold and not before, one level up every interval while nobody acts, silenced for a while by an
acknowledgement, stopped by an assignment and raised again when the incident is back in the queue;
each level and each acknowledgement written once even when two schedulers or two dispatchers race
(real threads, PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import factories as f
import pytest
from flask import Flask
from flask.testing import FlaskClient
from live import wait_for

import cad.scheduler
from cad import clock
from cad.db import db
from cad.models import LiveEvent, Role, TimelineEvent
from cad.roads import travel_times
from cad.services.alerts import raise_unassigned_alerts
from cad.services.dispatching import escalate_if_unacknowledged
from dispatch.alerts import DEFAULT_UNASSIGNED_ALERT_S

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
EVERY_S = 60.0


@pytest.fixture
def at(app: Flask) -> Callable[[float], datetime]:
    """Sets the clock to T0 + seconds (and returns it)."""
    now = [T0]
    clock.set_clock(lambda: now[0])

    def move(seconds: float) -> datetime:
        now[0] = T0 + timedelta(seconds=seconds)
        return now[0]

    return move


@pytest.fixture
def dispatcher() -> dict[str, str]:
    return f.user(Role.DISPATCHER, "Dewi")[1]


def _incident(client: FlaskClient, headers: dict[str, str], priority: int = 1) -> dict[str, Any]:
    answer = client.post("/api/v1/incidents", json=dict(f.INCIDENT, priority=priority), headers=headers)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def _sweep(at: Callable[[float], datetime], seconds: float) -> list[tuple[str, int]]:
    """The scheduler's sweep at T0 + seconds: (incident number, level) of what it raised."""
    now = at(seconds)
    raised = raise_unassigned_alerts(db.session, now, DEFAULT_UNASSIGNED_ALERT_S, EVERY_S)
    return [(a["incident_number"], a["level"]) for a in raised]


def _levels(incident_id: int) -> list[int]:
    db.session.remove()
    events = db.session.query(TimelineEvent).filter_by(kind="unassigned_alert", incident_id=incident_id)
    return [e.data["level"] for e in events.order_by(TimelineEvent.id)]


def test_a_p1_without_a_unit_alerts_after_its_threshold_and_not_before(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    incident = _incident(client, dispatcher)
    assert _sweep(at, 59) == []
    assert client.get("/api/v1/alerts", headers=dispatcher).get_json() == []
    assert _sweep(at, 60) == [(incident["number"], 1)]
    assert _sweep(at, 61) == []  # level 1 once
    [event] = db.session.query(TimelineEvent).filter_by(kind="unassigned_alert").all()
    assert event.actor == "scheduler" and event.data == {"level": 1, "waiting_s": 60.0, "priority": 1}
    live = [e.data for e in db.session.query(LiveEvent).filter_by(kind="alert")]
    assert live == [
        {
            "id": f"unassigned-{incident['id']}",
            "kind": "unassigned",
            "incident_id": incident["id"],
            "incident_number": incident["number"],
            "incident_type": "kebakaran",
            "priority": 1,
            "level": 1,
            "since": incident["created_at"].replace("Z", "+00:00"),
            "alerted_at": (T0 + timedelta(seconds=60)).isoformat(),
            "waiting_s": 60.0,
        }
    ]
    [alert] = client.get("/api/v1/alerts", headers=dispatcher).get_json()
    assert alert["id"] == f"unassigned-{incident['id']}" and alert["level"] == 1 and alert["waiting_s"] == 61.0


def test_it_escalates_one_level_every_interval_while_nobody_acts(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    incident = _incident(client, dispatcher)
    assert _sweep(at, 60) == [(incident["number"], 1)]
    assert _sweep(at, 119) == []
    assert _sweep(at, 120) == [(incident["number"], 2)]
    assert _sweep(at, 185) == [(incident["number"], 3)]
    assert _sweep(at, 244) == []
    assert _sweep(at, 245) == [(incident["number"], 4)]
    assert _levels(incident["id"]) == [1, 2, 3, 4]
    [alert] = client.get("/api/v1/alerts", headers=dispatcher).get_json()
    assert alert["level"] == 4


def test_p2_waits_longer_and_p3_never_alerts(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    p2, p3 = _incident(client, dispatcher, priority=2), _incident(client, dispatcher, priority=3)
    assert _sweep(at, 60) == []
    assert _sweep(at, 120) == [(p2["number"], 1)]
    assert _sweep(at, 3600) == [(p2["number"], 2)]
    assert _levels(p3["id"]) == []


def test_an_assignment_stops_the_alert_and_an_incident_back_in_the_queue_alerts_again(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    unit = f.unit("DMK-01")
    incident = _incident(client, dispatcher)
    assert _sweep(at, 60) == [(incident["number"], 1)]
    assigned = client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=dispatcher
    )
    assert assigned.status_code == 201
    assert client.get("/api/v1/alerts", headers=dispatcher).get_json() == []
    assert _sweep(at, 300) == []
    # the crew cannot go: a P1 back in the queue with nobody on it alerts again at once, one level up
    _, crew = f.user(Role.CREW, unit=unit)
    declined = client.post(f"/api/v1/units/{unit.id}/decline", json={"reason": "rusak"}, headers=crew)
    assert declined.status_code == 200, declined.get_json()
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=dispatcher).get_json()["status"] == "new"
    assert _sweep(at, 301) == [(incident["number"], 2)]
    assert [a["id"] for a in client.get("/api/v1/alerts", headers=dispatcher).get_json()] == [
        f"unassigned-{incident['id']}"
    ]


def test_closing_or_cancelling_ends_it(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    incident = _incident(client, dispatcher)
    assert _sweep(at, 60) == [(incident["number"], 1)]
    cancelled = client.post(
        f"/api/v1/incidents/{incident['id']}/status", json={"status": "cancelled", "reason": "hoax"}, headers=dispatcher
    )
    assert cancelled.status_code == 200, cancelled.get_json()
    assert _sweep(at, 600) == []
    assert client.get("/api/v1/alerts", headers=dispatcher).get_json() == []


def test_acknowledging_silences_it_for_two_intervals_and_says_who(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    incident = _incident(client, dispatcher)
    alert_id = f"unassigned-{incident['id']}"
    assert _sweep(at, 60) == [(incident["number"], 1)]
    at(70)
    answer = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=dispatcher)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "id": alert_id,
        "alert": "unassigned",
        "incident_id": incident["id"],
        "incident_number": incident["number"],
        "level": 1,
        "acknowledged_by": "user:Dewi",
        "acknowledged_at": "2026-12-03T01:01:10Z",
    }
    assert client.get("/api/v1/alerts", headers=dispatcher).get_json() == []
    timeline = client.get(f"/api/v1/incidents/{incident['id']}", headers=dispatcher).get_json()["timeline"]
    [ack] = [e for e in timeline if e["kind"] == "alert_acknowledged"]
    assert ack["actor"] == "user:Dewi" and ack["at"] == "2026-12-03T01:01:10Z"
    assert ack["data"] == {"alert_id": alert_id, "alert": "unassigned", "level": 1, "by": "Dewi"}
    live = db.session.query(LiveEvent).filter_by(kind="alert").order_by(LiveEvent.id.desc()).first()
    assert live.data["kind"] == "acknowledged" and live.data["id"] == alert_id
    assert _sweep(at, 120) == [] and _sweep(at, 189) == []  # silenced until 70 + 2 × 60
    assert _sweep(at, 190) == [(incident["number"], 2)]
    [alert] = client.get("/api/v1/alerts", headers=dispatcher).get_json()
    assert alert["level"] == 2
    assert _sweep(at, 250) == [(incident["number"], 3)]  # unacknowledged again: every interval


def test_acknowledging_twice_is_a_conflict_that_names_who_was_first(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    _, other = f.user(Role.ADMIN, "Budi")
    incident = _incident(client, dispatcher)
    _sweep(at, 60)
    path = f"/api/v1/alerts/unassigned-{incident['id']}/acknowledge"
    assert client.post(path, headers=dispatcher).status_code == 200
    again = client.post(path, headers=other)
    assert again.status_code == 409
    assert again.get_json()["error"] == {
        "code": "conflict",
        "message": "already acknowledged by user:Dewi at 2026-12-03T01:01:00+00:00",
        "field": "alert_id",
    }
    kinds = [e.kind for e in db.session.query(TimelineEvent).filter_by(incident_id=incident["id"])]
    assert kinds.count("alert_acknowledged") == 1


def test_bad_requests_name_the_alert(
    client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    incident = _incident(client, dispatcher)
    cases = [
        ("unassigned-999999", 404, "no incident 999999"),
        ("ack_overdue-999999", 404, "no assignment 999999"),
        ("unassigned-99999999999999", 404, "no incident 99999999999999"),
        ("nonsense-1", 400, "expected unassigned-<incident id>"),
        ("unassigned-x", 400, "expected unassigned-<incident id>"),
        ("unassigned-", 400, "expected unassigned-<incident id>"),
        (f"unassigned-{incident['id']}", 409, "has not alerted"),
    ]
    for alert_id, status, message in cases:
        answer = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=dispatcher)
        assert answer.status_code == status, (alert_id, answer.get_json())
        error = answer.get_json()["error"]
        assert message in error["message"] and error["field"] == "alert_id", (alert_id, error)
    for role in (Role.CALL_TAKER, Role.CREW, Role.MANAGER):
        _, headers = f.user(role)
        assert client.get("/api/v1/alerts", headers=headers).status_code == 403
        refused = client.post(f"/api/v1/alerts/unassigned-{incident['id']}/acknowledge", headers=headers)
        assert refused.status_code == 403
    assert client.get("/api/v1/alerts").status_code == 401


def test_an_overdue_acknowledgement_is_listed_with_the_next_unit_and_can_be_acknowledged(
    app: Flask, client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    first, second = f.unit("DMK-01"), f.unit("DMK-02", lat=-1.2600, lon=116.8450)
    incident = _incident(client, dispatcher)
    assignment = client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": first.id}, headers=dispatcher
    ).get_json()
    at(90)
    estimator = travel_times(app.extensions["warroom.roads"], db.session)
    assert escalate_if_unacknowledged(db.session, assignment["id"], estimator, stale_after_s=1e6) is not None
    [alert] = client.get("/api/v1/alerts", headers=dispatcher).get_json()
    assert alert["id"] == f"ack_overdue-{assignment['id']}" and alert["kind"] == "ack_overdue"
    assert alert["callsign"] == "DMK-01" and alert["next_unit_id"] == second.id and alert["next_callsign"] == "DMK-02"
    assert alert["next_eta_s"] > 0 and alert["waiting_s"] == 90.0
    answer = client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=dispatcher)
    assert answer.status_code == 200 and answer.get_json()["alert"] == "ack_overdue"
    assert client.get("/api/v1/alerts", headers=dispatcher).get_json() == []
    [ack] = db.session.query(TimelineEvent).filter_by(kind="alert_acknowledged").all()
    assert ack.unit_id == first.id and ack.data["assignment_id"] == assignment["id"] and ack.actor == "user:Dewi"
    assert client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=dispatcher).status_code == 409


def test_a_crew_acknowledging_ends_the_overdue_alert(
    app: Flask, client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    unit = f.unit("DMK-01")
    _, crew = f.user(Role.CREW, unit=unit)
    incident = _incident(client, dispatcher)
    assignment = client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=dispatcher
    ).get_json()
    estimator = travel_times(app.extensions["warroom.roads"], db.session)
    escalate_if_unacknowledged(db.session, assignment["id"], estimator, stale_after_s=1e6)
    assert len(client.get("/api/v1/alerts", headers=dispatcher).get_json()) == 1
    client.post(f"/api/v1/units/{unit.id}/status", json={"status": "acknowledged"}, headers=crew)
    assert client.get("/api/v1/alerts", headers=dispatcher).get_json() == []
    late = client.post(f"/api/v1/alerts/ack_overdue-{assignment['id']}/acknowledge", headers=dispatcher)
    assert late.status_code == 409 and "acknowledged or was cleared" in late.get_json()["error"]["message"]


def test_the_scheduler_job_raises_them(
    app: Flask, client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    incident = _incident(client, dispatcher)
    at(61)
    cad.scheduler._app = app
    try:
        cad.scheduler.sweep_unassigned()
        cad.scheduler.sweep_unassigned()
    finally:
        cad.scheduler._app = None
    assert _levels(incident["id"]) == [1]


def test_a_running_scheduler_raises_them_while_it_holds_the_lease(
    client: FlaskClient, other_worker: Callable[..., Flask], dispatcher: dict[str, str]
) -> None:
    """`warroom scheduler`'s loop (its own app, P1 alerting after 5 s), in a thread: it takes the
    lease and its sweep raises level 1 in time, not before."""
    scheduler = other_worker(WARROOM_UNASSIGNED_ALERT_S="1:5")
    incident = _incident(client, dispatcher)
    stop = threading.Event()
    loop = threading.Thread(target=cad.scheduler.run, args=(scheduler, stop), kwargs={"ttl_s": 3})
    loop.start()
    try:
        time.sleep(3)
        assert _levels(incident["id"]) == []
        wait_for(lambda: _levels(incident["id"]) == [1], timeout_s=15)
    finally:
        stop.set()
        loop.join(30)
        cad.scheduler._app = None


def _together(workers: list[Callable[[], Any]]) -> list[Any]:
    """Runs the workers in threads released at the same moment; their results."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = workers[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_two_schedulers_racing_raise_each_level_once(
    client: FlaskClient, other_worker: Callable[..., Flask], dispatcher: dict[str, str]
) -> None:
    """Two scheduler processes (two apps, own engines) sweep at the same moment, level after level."""
    schedulers = [other_worker(), other_worker()]
    incidents = [_incident(client, dispatcher) for _ in range(6)]
    created = max(datetime.fromisoformat(i["created_at"].replace("Z", "+00:00")) for i in incidents)

    def sweep(worker: Flask, now: datetime) -> Callable[[], list[dict[str, Any]]]:
        def go() -> list[dict[str, Any]]:
            with worker.app_context():
                return raise_unassigned_alerts(db.session, now, DEFAULT_UNASSIGNED_ALERT_S, EVERY_S)

        return go

    raised: Counter[tuple[int, int]] = Counter()
    for level in range(1, 6):
        now = created + timedelta(seconds=60 * level + 1)
        for result in _together([sweep(w, now) for w in schedulers]):
            raised.update((a["incident_id"], a["level"]) for a in result)
    expected = {(i["id"], level): 1 for i in incidents for level in range(1, 6)}
    assert dict(raised) == expected
    for incident in incidents:
        assert _levels(incident["id"]) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_two_dispatchers_acknowledging_at_once_record_it_once(
    app: Flask, client: FlaskClient, at: Callable[[float], datetime], dispatcher: dict[str, str]
) -> None:
    _, other = f.user(Role.DISPATCHER, "Budi")
    outcomes: Counter[tuple[int, ...]] = Counter()
    for _ in range(8):
        at(0)
        incident = _incident(client, dispatcher)
        _sweep(at, 60)
        path = f"/api/v1/alerts/unassigned-{incident['id']}/acknowledge"

        def post(headers: dict[str, str], path: str = path) -> Callable[[], int]:
            return lambda: app.test_client().post(path, headers=headers).status_code

        outcomes[tuple(sorted(_together([post(dispatcher), post(other)])))] += 1
        db.session.remove()
        acks = db.session.query(TimelineEvent).filter_by(kind="alert_acknowledged", incident_id=incident["id"])
        assert acks.count() == 1
    assert outcomes == Counter({(200, 409): 8})
