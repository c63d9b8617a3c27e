"""The demo can never touch a real centre: `warroom simulate` runs only on a database the demo
seeded, holds a lease while it drives the vehicles, and a second one never takes a held lease's
tokens (compared by the units' token hashes before and after)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import factories as f
import pytest
import sqlalchemy as sa
from flask import Flask

import simulator.run
from cad.cli import main
from cad.config import SHARED_DATA
from cad.db import db
from cad.demo import seed_demo
from cad.models import SimulatorLease, Unit, User
from cad.services import simulation
from simulator.run import Stats


@pytest.fixture
def fleet(app: Flask) -> list[Unit]:
    """Two units with device tokens, committed: a refused command rolls back what its session left
    open, and the tests look for the fleet unchanged after it."""
    units = [f.unit("DMK-01"), f.unit("AMB-01", "ambulance")]
    for row in units:
        f.device_token(row)
    db.session.commit()
    return units


def token_hashes() -> dict[str, str | None]:
    db.session.expire_all()
    return {u.callsign: u.device_token_hash for u in db.session.scalars(sa.select(Unit))}


def mark_demo() -> None:
    simulation.mark_demo_centre(db.session, "test")
    db.session.commit()


def lease_row(holder: str, host: str, pid: int, expires_in_s: float) -> None:
    now = datetime.now(UTC)
    db.session.add(
        SimulatorLease(
            name=simulation.LEASE,
            holder=holder,
            host=host,
            pid=pid,
            since=now - timedelta(minutes=3),
            expires_at=now + timedelta(seconds=expires_in_s),
        )
    )
    db.session.commit()


def simulate(app: Flask) -> Any:
    return app.test_cli_runner().invoke(main, ["simulate", "--yes", "--url", "http://127.0.0.1:9"])


@pytest.fixture
def city_run(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The city itself replaced: what the command gave it, and what the database held meanwhile."""
    runs: list[dict[str, Any]] = []

    def run(centre: Any, options: simulator.run.Options, *, stop: Any = None) -> Stats:
        assert options.heartbeat is not None
        runs.append({"lease": simulation.current_lease(db.session), "renewed": options.heartbeat()})
        return Stats()

    monkeypatch.setattr(simulator.run, "simulate", run)
    return runs


def test_a_centre_the_demo_did_not_seed_is_refused_even_with_yes(app: Flask, fleet: list[Unit]) -> None:
    before = token_hashes()
    result = simulate(app)
    assert result.exit_code == 1
    assert "not seeded by the demo" in result.output and "real centre" in result.output
    assert token_hashes() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0  # no simulated crews either
    assert db.session.get(SimulatorLease, simulation.LEASE) is None
    with pytest.raises(simulation.NotADemoCentre):  # the service refuses too (benches, tests call it)
        simulation.issue_simulator_keys(db.session)
    assert token_hashes() == before


def test_without_yes_even_a_demo_centre_is_refused(app: Flask, fleet: list[Unit]) -> None:
    mark_demo()
    before = token_hashes()
    result = app.test_cli_runner().invoke(main, ["simulate"])
    assert result.exit_code == 1 and "--yes" in result.output
    assert token_hashes() == before


def test_a_second_simulator_is_refused_while_the_first_holds_the_lease(app: Flask, fleet: list[Unit]) -> None:
    mark_demo()
    first = simulation.new_holder()
    simulation.take_simulator_lease(db.session, first)
    keys = simulation.issue_simulator_keys(db.session, first)
    before = token_hashes()

    result = simulate(app)
    assert result.exit_code == 1
    assert f"{socket.gethostname()} (pid {os.getpid()}) since" in result.output
    assert token_hashes() == before  # the first one's vehicles keep their tokens
    assert simulation.current_lease(db.session).holder == first
    with pytest.raises(simulation.SimulatorBusy):
        simulation.issue_simulator_keys(db.session)
    assert token_hashes() == before and len(keys.devices) == 2


def test_a_lease_held_on_another_machine_is_refused_until_it_runs_out(
    app: Flask, fleet: list[Unit], city_run: list[dict[str, Any]]
) -> None:
    mark_demo()
    lease_row("node-b:4242:abcd", "node-b", 4242, expires_in_s=20)
    before = token_hashes()
    refused = simulate(app)
    assert refused.exit_code == 1 and "node-b (pid 4242) since" in refused.output
    assert token_hashes() == before and city_run == []


def test_an_expired_lease_is_taken_over_and_released_on_a_clean_stop(
    app: Flask, fleet: list[Unit], city_run: list[dict[str, Any]]
) -> None:
    mark_demo()
    lease_row("node-b:4242:abcd", "node-b", 4242, expires_in_s=-1)  # its simulator died on node-b
    before = token_hashes()
    result = simulate(app)
    assert result.exit_code == 0, result.output
    (run,) = city_run
    assert run["lease"].host == socket.gethostname() and run["lease"].pid == os.getpid()
    assert run["renewed"] is True
    after = token_hashes()
    assert set(after) == set(before) and all(after[c] != before[c] for c in before)
    assert db.session.get(SimulatorLease, simulation.LEASE, populate_existing=True) is None  # given back


def test_a_holder_that_died_on_this_machine_is_taken_over_at_once(
    app: Flask, fleet: list[Unit], city_run: list[dict[str, Any]]
) -> None:
    mark_demo()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lease_row(f"{socket.gethostname()}:x", socket.gethostname(), int(gone.stdout), expires_in_s=25)
    result = simulate(app)
    assert result.exit_code == 0, result.output
    assert len(city_run) == 1


def test_a_simulator_whose_lease_was_taken_learns_it_at_its_next_renewal(app: Flask, fleet: list[Unit]) -> None:
    mark_demo()
    lease_row("stalled", "node-b", 4242, expires_in_s=-1)
    taker = simulation.new_holder()
    simulation.take_simulator_lease(db.session, taker)
    assert simulation.renew_simulator_lease(db.session, "stalled") is False
    assert simulation.renew_simulator_lease(db.session, taker) is True
    simulation.release_simulator_lease(db.session, "stalled")  # not its lease: nothing given back
    assert simulation.current_lease(db.session).holder == taker


@pytest.mark.parametrize("seeded", [True, False])
def test_serve_starts_the_simulator_only_on_a_demo_centre(
    app: Flask, fleet: list[Unit], monkeypatch: pytest.MonkeyPatch, seeded: bool
) -> None:
    import signal

    import werkzeug.serving

    import cad.cli
    import cad.serve_output

    started: list[int] = []
    # serve's HTTP server answers nothing and returns at once; its logging, signals and stopping of
    # children are the lifecycle tests' (tests/e2e/test_serve_lifecycle.py), not this process's
    monkeypatch.setattr(werkzeug.serving, "make_server", lambda *a, **k: _NoServer())
    monkeypatch.setattr(cad.serve_output, "quiet_logging", lambda *a, **k: None)
    monkeypatch.setattr(signal, "signal", lambda *a: None)
    monkeypatch.setattr(cad.cli, "_stop_helpers", lambda helpers: None)
    monkeypatch.setattr(cad.cli, "_start_simulator", lambda *a: started.append(1) or _Done())
    if seeded:
        mark_demo()
    result = app.test_cli_runner().invoke(main, ["serve", "--no-sip", "--verbose"])
    assert result.exit_code == 0, result.output
    assert started == ([1] if seeded else [])
    assert ("not started: the demo did not seed this database" in result.output) is not seeded


class _NoServer:
    def serve_forever(self) -> None: ...

    def shutdown(self) -> None: ...

    def server_close(self) -> None: ...


class _Done:
    def terminate(self) -> None: ...

    def wait(self, timeout: float) -> int:
        return 0


ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"


@pytest.mark.skipif(not ROADS.exists(), reason=f"road extract {ROADS} not present")
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_demo_seed_marks_its_database(app: Flask) -> None:
    assert simulation.demo_seeded_at(db.session) is None
    seed_demo(db.session, str(ROADS))
    assert simulation.demo_seeded_at(db.session) is not None


def test_two_simulators_starting_at_once_one_takes_the_lease(
    app: Flask, fleet: list[Unit], other_worker: Callable[..., Flask]
) -> None:
    mark_demo()
    lease_row("died", "node-b", 4242, expires_in_s=-1)  # both see it expired and race to take it over
    starts = threading.Barrier(2)
    outcomes: list[str] = []

    def start(worker: Flask) -> None:
        with worker.app_context():
            starts.wait()
            try:
                simulation.take_simulator_lease(db.session, simulation.new_holder())
                outcomes.append("took")
            except simulation.SimulatorBusy:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=start, args=(other_worker(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["refused", "took"]
