"""The scheduler's lease and its loop, in process: the database's clock decides when a lease ends,
a holder stops trusting it before then, the loop outlives a job store that fails under it, and the
sweep alerts for timers lost from the store, only those."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import factories as f
import pytest
import sqlalchemy as sa
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from flask.testing import FlaskClient
from live import wait_for

import cad.scheduler
from cad import clock
from cad.db import db
from cad.models import Assignment, Role, TimelineEvent
from cad.scheduler import Lease, LeasedJobStore


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite is one machine: one clock
def test_a_node_whose_clock_runs_ahead_cannot_take_a_held_lease(app: Flask) -> None:
    assert Lease(db.engine, "node-a:1", ttl_s=15).renew()
    clock.set_clock(lambda: datetime.now(UTC) + timedelta(minutes=5))  # the other node's clock
    assert not Lease(db.engine, "node-b:1", ttl_s=15).renew()


def test_a_holder_stops_trusting_its_lease_before_anyone_may_take_it(app: Flask) -> None:
    lease = Lease(db.engine, "node-a:1", ttl_s=4)
    store = LeasedJobStore(lease, engine=db.engine, tablename="apscheduler_jobs")
    store.start(BlockingScheduler(timezone="UTC"), "default")
    app.extensions["warroom.timers"].schedule(999, clock.now())
    assert lease.renew() and lease.held()
    assert [job.id for job in store.get_due_jobs(clock.now())] == ["ack-999"]
    time.sleep(4 * cad.scheduler.TRUSTED + 0.1)
    assert not lease.held() and store.get_due_jobs(clock.now()) == []
    assert not Lease(db.engine, "node-b:1", ttl_s=4).renew()  # still its lease in the database


def _assign(client: FlaskClient, callsign: str) -> int:
    """A unit sent to a new incident (its timer set for a minute on); the assignment's id."""
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit(callsign)
    incident = client.post(
        "/api/v1/incidents",
        headers=headers,
        json={"type": "kebakaran", "priority": 1, "location": {"lat": -1.27, "lon": 116.835}},
    ).get_json()
    answer = client.post(f"/api/v1/incidents/{incident['id']}/assignments", headers=headers, json={"unit_id": unit.id})
    assert answer.status_code == 201
    return int(answer.get_json()["id"])


def _alerted(assignment_id: int) -> bool:
    db.session.remove()
    return (
        db.session.query(TimelineEvent)
        .filter_by(kind="ack_overdue")
        .filter(TimelineEvent.data["assignment_id"].as_integer() == assignment_id)
        .count()
        == 1
        and db.session.get_one(Assignment, assignment_id).ack_alerted_at is not None
    )


def test_the_scheduler_goes_on_when_a_job_it_ran_is_gone_from_the_store(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    timers = app.extensions["warroom.timers"]
    first, second = _assign(client, "DMK-01"), _assign(client, "DMK-02")
    timers.schedule(first, clock.now())  # due now
    other = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    taken: list[str] = []

    def taken_meanwhile(conn: sa.Connection, cursor: object, statement: str, params: object, *_: object) -> None:
        """Just before the scheduler takes the timer it ran out of the store, another one did so."""
        if statement.startswith("DELETE FROM apscheduler_jobs") and not taken:
            taken.append(statement)
            with other.begin() as theirs:
                theirs.execute(sa.text("DELETE FROM apscheduler_jobs WHERE id = :id"), {"id": f"ack-{first}"})

    sa.event.listen(db.engine, "before_cursor_execute", taken_meanwhile)
    stop = threading.Event()
    loop = threading.Thread(target=cad.scheduler.run, args=(app, stop), kwargs={"ttl_s": 3})
    caplog.set_level(logging.ERROR, "cad.scheduler")
    loop.start()
    try:
        wait_for(lambda: _alerted(first), timeout_s=20)
        wait_for(lambda: "the job store failed" in caplog.text, timeout_s=10)
        assert taken
        timers.schedule(second, clock.now())
        wait_for(lambda: _alerted(second), timeout_s=20)  # the loop still runs the jobs
    finally:
        stop.set()
        loop.join(30)
        sa.event.remove(db.engine, "before_cursor_execute", taken_meanwhile)
        other.dispose()
        cad.scheduler._app = None


def test_the_sweep_alerts_for_a_lost_timer_and_leaves_a_pending_one_to_its_time(
    app: Flask, client: FlaskClient
) -> None:
    lost, pending = _assign(client, "DMK-01"), _assign(client, "DMK-02")
    db.session.execute(sa.text("DELETE FROM apscheduler_jobs WHERE id = :id"), {"id": f"ack-{lost}"})
    db.session.commit()  # as when the scheduler that took it out to run it was killed
    later = clock.now() + timedelta(minutes=2)  # both past this process's 60 s for priority 1
    app.extensions["warroom.timers"].schedule(pending, later + timedelta(minutes=5))  # the web gave it longer
    clock.set_clock(lambda: later)
    cad.scheduler._app = app
    try:
        cad.scheduler.sweep_overdue()
    finally:
        cad.scheduler._app = None
    assert _alerted(lost) and not _alerted(pending)
