"""Acknowledgement timers in `warroom scheduler` processes: they survive a restart, and with two
schedulers running each timer fires once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
from live import LiveCentre, serve
from test_sip_intake import wait_for

from cad.app import create_app
from cad.config import Settings
from cad.db import db
from cad.models import Role, TimelineEvent

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def timed_centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": "",
            "WARROOM_ACK_TIMEOUTS": "1:5",
        }
    )
    yield from serve(create_app({"TESTING": True}, settings=settings), tmp_path)


class Scheduler:
    def __init__(self, centre: LiveCentre, database_url: str, name: str) -> None:
        self.log = centre.instance / f"scheduler-{name}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(centre.instance),
            "WARROOM_ROADS": "",
        }
        self.handle = open(self.log, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cad.cli", "scheduler"], env=env, stdout=self.handle, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(20)
        self.handle.close()
        return self.process.returncode


def _assign(centre: LiveCentre) -> int:
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    unit = f.unit("DMK-01")
    f.unit("DMK-02")
    incident = centre.post(
        "/api/v1/incidents",
        token,
        json={"type": "kebakaran", "priority": 1, "location": {"lat": -1.27, "lon": 116.835}},
    ).json()
    assert (
        centre.post(f"/api/v1/incidents/{incident['id']}/assignments", token, json={"unit_id": unit.id}).status_code
        == 201
    )
    return int(incident["id"])


def _overdue(incident_id: int) -> list[TimelineEvent]:
    db.session.remove()
    return db.session.query(TimelineEvent).filter_by(kind="ack_overdue", incident_id=incident_id).all()


def test_a_timer_survives_a_scheduler_restart(timed_centre: LiveCentre, database_url: str) -> None:
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
