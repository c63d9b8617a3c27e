"""Who may drive the demo city's vehicles: the lease's verdict, and the loop that renews it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cad.domain.simulator_lease import LeaseHeld, Verdict, verdict
from simulator.run import City, Options

NOW = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)


def held(holder: str = "a", expires_in_s: float = 20.0) -> LeaseHeld:
    return LeaseHeld(holder, "node-a", 4242, NOW - timedelta(minutes=5), NOW + timedelta(seconds=expires_in_s))


def test_nobody_holds_it_take_it() -> None:
    assert verdict(None, "b", NOW, None) is Verdict.TAKE


def test_another_holder_alive_or_unknown_is_refused() -> None:
    assert verdict(held(), "b", NOW, None) is Verdict.REFUSE
    assert verdict(held(), "b", NOW, True) is Verdict.REFUSE


def test_an_expired_lease_or_a_dead_holder_on_this_machine_is_taken_over() -> None:
    assert verdict(held(expires_in_s=-1), "b", NOW, None) is Verdict.TAKE
    assert verdict(held(), "b", NOW, False) is Verdict.TAKE


def test_our_own_lease_is_renewed() -> None:
    assert verdict(held("b"), "b", NOW, True) is Verdict.RENEW


def test_the_refusal_names_the_holder_and_since_when() -> None:
    assert held().describe() == "node-a (pid 4242) since 2026-12-03 10:55:00 UTC"


def test_the_city_stops_when_its_lease_was_taken() -> None:
    beats: list[bool] = []

    def heartbeat() -> bool:
        beats.append(True)
        return len(beats) < 2

    world = City(None, None, Options(heartbeat=heartbeat, heartbeat_every_s=0.0))  # type: ignore[arg-type]
    world._beat()
    assert not world.stop.is_set()
    world._beat()
    assert world.stop.is_set() and len(beats) == 2
    world.pool.shutdown()


def test_the_city_renews_no_more_often_than_asked() -> None:
    beats: list[bool] = []
    world = City(None, None, Options(heartbeat=lambda: beats.append(True) or True, heartbeat_every_s=60.0))  # type: ignore[arg-type]
    for _ in range(5):
        world._beat()
    assert beats == []
    world.pool.shutdown()
