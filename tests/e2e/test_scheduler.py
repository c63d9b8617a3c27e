"""Acknowledgement timers and report jobs in `warroom scheduler` processes: they survive a restart,
and with two schedulers running (as on two nodes) each timer fires once, whether the one holding
the lease stops, is killed, is killed while running a timer, or stalls while archiving a report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import factories as f
import pytest
import sqlalchemy as sa
from live import LiveCentre, serve_centre, wait_for

from cad.db import db
from cad.models import Assignment, LiveEvent, Role, TimelineEvent
from cad.scheduler import SWEEP_EVERY_S

BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
#: Row locks, advisory locks and a second node: PostgreSQL's.
POSTGRESQL = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
#: Priority 1 waits 5 s for its acknowledgement, priority 2 20 s (the web's and the schedulers' setting).
ACK_TIMEOUTS = "1:5,2:20"


@pytest.fixture
def timed_centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    yield from serve_centre(database_url, tmp_path, WARROOM_ACK_TIMEOUTS=ACK_TIMEOUTS)


class Scheduler:
    def __init__(self, centre: LiveCentre, database_url: str, name: str, lease_s: float = 15) -> None:
        self.name = name
        self.log = centre.instance / f"scheduler-{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(centre.instance),
            "WARROOM_ROADS": "",
            "WARROOM_ACK_TIMEOUTS": ACK_TIMEOUTS,
            "WARROOM_SCHEDULER_LEASE_S": str(lease_s),
        }
        self.handle = open(self.log, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cad.cli", "scheduler"], env=env, stdout=self.handle, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def holds(self) -> bool:
        return "holds the lease" in self.output()

    def kill(self) -> None:
        """SIGKILL: no clean stop, the lease stays in the database until it runs out."""
        self.process.kill()
        self.process.wait(10)

    def stall(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def go_on(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)
        self.handle.close()
        return self.process.returncode


def _holder(*schedulers: Scheduler) -> tuple[Scheduler, Scheduler]:
    """(the one that took the lease, the other), once one did."""
    wait_for(lambda: any(s.holds() for s in schedulers), timeout_s=30)
    holder = next(s for s in schedulers if s.holds())
    return holder, next(s for s in schedulers if s is not holder)


def _assign(centre: LiveCentre, callsign: str = "DMK-01", priority: int = 1) -> int:
    """A new unit `callsign` sent to a new incident; the incident's id."""
    token = f.api_token(Role.DISPATCHER)
    unit = f.unit(callsign)
    incident = centre.post(
        "/api/v1/incidents",
        token,
        json={"type": "kebakaran", "priority": priority, "location": {"lat": -1.27, "lon": 116.835}},
    ).json()
    assert (
        centre.post(f"/api/v1/incidents/{incident['id']}/assignments", token, json={"unit_id": unit.id}).status_code
        == 201
    )
    return int(incident["id"])


def _overdue(incident_id: int) -> list[TimelineEvent]:
    db.session.remove()
    return db.session.query(TimelineEvent).filter_by(kind="ack_overdue", incident_id=incident_id).all()


def _alerts(incident_id: int) -> list[LiveEvent]:
    """The `alert` events the consoles heard for this incident."""
    db.session.remove()
    return [e for e in db.session.query(LiveEvent).filter_by(kind="alert") if e.data["incident_id"] == incident_id]


def _fired_once(incident_id: int) -> None:
    assert len(_overdue(incident_id)) == 1, _overdue(incident_id)
    assert len(_alerts(incident_id)) == 1, [e.data for e in _alerts(incident_id)]


@BOTH
def test_a_timer_survives_a_scheduler_restart(timed_centre: LiveCentre, database_url: str) -> None:
    f.unit("DMK-02")
    first = Scheduler(timed_centre, database_url, "a")
    try:
        wait_for(lambda: "holds the lease" in first.output(), timeout_s=20)
        incident_id = _assign(timed_centre)
    finally:
        assert first.stop() == 0  # gone before the 5 s timer is due
    time.sleep(6)
    assert _overdue(incident_id) == []
    second = Scheduler(timed_centre, database_url, "b")
    try:
        events = wait_for(lambda: _overdue(incident_id), timeout_s=25)
        assert len(events) == 1 and events[0].data["callsign"] == "DMK-01"
        assert events[0].data["next_callsign"] == "DMK-02"
    finally:
        assert second.stop() == 0


@BOTH
def test_two_schedulers_fire_each_timer_once(timed_centre: LiveCentre, database_url: str) -> None:
    a, b = Scheduler(timed_centre, database_url, "a"), Scheduler(timed_centre, database_url, "b")
    try:
        wait_for(lambda: "holds the lease" in a.output() + b.output(), timeout_s=20)
        incident_id = _assign(timed_centre)
        wait_for(lambda: _overdue(incident_id), timeout_s=25)
        time.sleep(3)
        assert len(_overdue(incident_id)) == 1
        assert ("holds the lease" in a.output()) != ("holds the lease" in b.output())
    finally:
        assert a.stop() == 0 and b.stop() == 0


@BOTH
def test_the_standby_takes_over_from_a_killed_holder_and_fires_each_timer_once(
    timed_centre: LiveCentre, database_url: str
) -> None:
    lease_s = 9.0
    a, b = (Scheduler(timed_centre, database_url, name, lease_s=lease_s) for name in "ab")
    try:
        holder, standby = _holder(a, b)
        due_in_gap = _assign(timed_centre, "DMK-01", priority=1)  # due in 5 s: before the lease runs out
        due_later = _assign(timed_centre, "DMK-02", priority=2)  # due in 20 s: after the takeover
        holder.kill()
        killed = time.monotonic()
        wait_for(standby.holds, timeout_s=lease_s * 2 + 10)
        took_over_s, took_over_at = time.monotonic() - killed, datetime.now(UTC)
        # not before the lease ran out (renewed at most a third of it before the kill), about when it did
        assert lease_s * 2 / 3 - 0.5 < took_over_s < lease_s + lease_s / 3 + 5, took_over_s
        db.session.remove()
        gap = db.session.query(Assignment).filter_by(incident_id=due_in_gap).one()
        assert gap.assigned_at + timedelta(seconds=5) < took_over_at  # it came due while nobody held the lease
        wait_for(lambda: _overdue(due_in_gap), timeout_s=10)  # at once when the standby takes over
        wait_for(lambda: _overdue(due_later), timeout_s=35)
        time.sleep(SWEEP_EVERY_S + 2)  # a second alert, if any, would be out by now
        _fired_once(due_in_gap)
        _fired_once(due_later)
        assert standby.output().count("not acknowledged after") == 2
    finally:
        assert holder.stop() == -signal.SIGKILL and standby.stop() == 0


def _waiting_on_lock(engine: sa.Engine, query: str) -> bool:
    """A session of PostgreSQL's is waiting for a lock while running a statement like `query`."""
    with engine.connect() as conn:
        return bool(
            conn.scalar(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE :q"),
                {"q": query},
            )
        )


@POSTGRESQL
def test_a_timer_running_when_its_scheduler_is_killed_fires_once_on_the_standby(
    timed_centre: LiveCentre, database_url: str
) -> None:
    lease_s = 4.0
    a, b = (Scheduler(timed_centre, database_url, name, lease_s=lease_s) for name in "ab")
    engine = sa.create_engine(database_url)
    try:
        holder, standby = _holder(a, b)
        incident_id = _assign(timed_centre)
        assignment_id = db.session.query(Assignment.id).filter_by(incident_id=incident_id).scalar()
        with engine.connect() as blocker:  # a dispatcher's transaction holds the assignment a moment
            blocker.execute(sa.text("SELECT id FROM assignments WHERE id = :id FOR UPDATE"), {"id": assignment_id})
            wait_for(lambda: _waiting_on_lock(engine, "UPDATE assignments%"), timeout_s=30)  # the timer runs
            holder.kill()
            blocker.rollback()
        with engine.connect() as conn:  # APScheduler took the job out of the store before running it
            jobs = conn.scalar(sa.text("SELECT count(*) FROM apscheduler_jobs WHERE id LIKE 'ack-%'"))
        assert jobs == 0
        wait_for(lambda: _overdue(incident_id), timeout_s=lease_s * 2 + SWEEP_EVERY_S * 3 + 15)
        time.sleep(SWEEP_EVERY_S + 2)
        _fired_once(incident_id)
        assert f"assignment {assignment_id} is overdue and its timer was lost" in standby.output()
    finally:
        engine.dispose()
        assert holder.stop() == -signal.SIGKILL and standby.stop() == 0


@POSTGRESQL
def test_a_report_is_archived_once_when_its_scheduler_stalls_and_the_other_takes_over(
    timed_centre: LiveCentre, database_url: str
) -> None:
    lease_s = 4.0
    folder = timed_centre.instance / "reports"
    engine = sa.create_engine(database_url)
    blocker = engine.connect()
    blocker.execute(sa.text("LOCK TABLE timeline_events IN ACCESS EXCLUSIVE MODE"))  # reports wait for it
    a, b = (Scheduler(timed_centre, database_url, name, lease_s=lease_s) for name in "ab")
    try:
        holder, standby = _holder(a, b)
        # on taking the lease it archives the last week: it holds the week's lock and waits for the table
        wait_for(lambda: _waiting_on_lock(engine, "%timeline_events%"), timeout_s=30)
        holder.stall()  # as a VM paused, or a process swapped out: the lease runs out meanwhile
        wait_for(standby.holds, timeout_s=lease_s * 2 + 10)
        wait_for(lambda: "weekly report archived already or by another" in standby.output(), timeout_s=30)
        blocker.commit()  # the table is free: the standby archives the month
        wait_for(lambda: "monthly report archived as" in standby.output(), timeout_s=60)
        holder.go_on()  # the stalled holder finishes the week it had started, then finds the month done
        wait_for(lambda: "monthly report archived already or by another" in holder.output(), timeout_s=60)
        wait_for(lambda: "lost the lease" in holder.output(), timeout_s=30)
        both = a.output() + b.output()
        assert both.count("weekly report archived as") == 1 and "weekly report archived as" in holder.output()
        assert both.count("monthly report archived as") == 1
        assert sorted(p.name.split("-")[0] for p in folder.glob("*.pdf")) == ["monthly", "weekly"]
    finally:
        blocker.close()
        engine.dispose()
        assert a.stop() == 0 and b.stop() == 0
