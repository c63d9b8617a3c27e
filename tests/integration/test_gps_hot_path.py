"""What keeps a GPS fix cheap (issue 20): the device tokens read in one query, the flood limit
judged from the centre's counts without a round trip per unit, consecutive fix batches written
on one connection; and what must not change with it (a replaced token stops working)."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import factories as f
import pytest
import sqlalchemy as sa
from flask import Flask

from cad import clock
from cad.db import db
from cad.errors import Unauthorized
from cad.models import Position
from cad.services import fix_writer as fix_writer_module
from cad.services.fix_writer import FixWriter
from cad.services.positions import DeviceDirectory, FloodGuard

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)

#: The device directory and the fix writer read and write through connections of their own.
pytestmark = pytest.mark.usefixtures("committing_factories")


class Statements:
    """Counts the statements an engine runs."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.seen = engine, []
        sa.event.listen(engine, "before_cursor_execute", self._saw)

    def _saw(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def remove(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._saw)


@pytest.fixture
def statements(app: Flask) -> Iterator[Statements]:
    counted = Statements(db.engine)
    yield counted
    counted.remove()


def test_one_query_knows_every_device_and_a_later_token_is_looked_up(app: Flask, statements: Statements) -> None:
    units = [f.unit(f"DMK-{n}") for n in range(5)]
    tokens = [f.device_token(u) for u in units]
    ids = [u.id for u in units]
    directory = DeviceDirectory(ttl_s=30.0, now_s=lambda: 100.0)
    statements.seen.clear()
    assert [directory.unit_id(db.session, token) for token in tokens] == ids
    assert len([s for s in statements.seen if "units" in s]) == 1  # one read for five devices

    late = f.unit("DMK-LATE")
    late_token, late_id = f.device_token(late), late.id
    statements.seen.clear()
    assert directory.unit_id(db.session, late_token) == late_id  # issued after the read: looked up alone
    assert directory.unit_id(db.session, late_token) == late_id
    assert len(statements.seen) == 1
    with pytest.raises(Unauthorized):
        directory.unit_id(db.session, "dev_nobody")


def test_a_replaced_token_works_until_the_next_read_at_most_ttl_later(app: Flask) -> None:
    unit = f.unit("DMK-01")
    old = f.device_token(unit)
    now_s = [0.0]
    directory = DeviceDirectory(ttl_s=30.0, now_s=lambda: now_s[0])
    assert directory.unit_id(db.session, old) == unit.id
    new = f.device_token(unit)
    now_s[0] = 29.0
    assert directory.unit_id(db.session, old) == unit.id  # within the documented bound
    assert directory.unit_id(db.session, new) == unit.id
    now_s[0] = 30.0
    with pytest.raises(Unauthorized):
        directory.unit_id(db.session, old)
    assert directory.unit_id(db.session, new) == unit.id


class CountingLimits:
    """The app's shared limits, counting the round trips that add to the counters."""

    def __init__(self, limits: Any) -> None:
        self.limits, self.incr_calls = limits, []

    def now_s(self) -> float:
        return float(self.limits.now_s())

    def counts(self, name: str) -> Any:
        return self.limits.counts(name)

    def incr_many(self, amounts: dict[str, int], expiry: int) -> dict[str, tuple[int, float]]:
        self.incr_calls.append(dict(amounts))
        return dict(self.limits.incr_many(amounts, expiry))


def test_units_new_to_a_process_cost_no_round_trip_each(app: Flask) -> None:
    at = [datetime(2026, 11, 24, 3, 0, tzinfo=UTC)]
    clock.set_clock(lambda: at[0])
    limits = CountingLimits(app.extensions["warroom.limits"])
    guard = FloodGuard(limits)  # type: ignore[arg-type]
    assert all(guard.wait_s(unit_id, 1, rate_per_s=5, burst=300) == 0.0 for unit_id in range(1, 51))
    assert limits.incr_calls == []  # judged by the centre's counts read once, counted here
    at[0] += timedelta(seconds=FloodGuard.FLUSH_S)
    assert guard.wait_s(1, 1, rate_per_s=5, burst=300) == 0.0
    assert len(limits.incr_calls) == 1 and len(limits.incr_calls[0]) == 50  # all added in one statement

    other = FloodGuard(limits)  # another worker: learns unit 1's count (1 so far) from the centre
    assert other.wait_s(1, 299, rate_per_s=5, burst=300) == 0.0
    assert other.wait_s(1, 1, rate_per_s=5, burst=300) > 0


def test_units_new_to_a_process_while_a_flush_waits_on_the_database_cost_no_round_trip(app: Flask) -> None:
    """The counts the last flush read judge new units until the next flush has read the centre's
    again: the requests that come while it waits do not each ask the shared storage."""
    at = [datetime(2026, 11, 24, 3, 0, tzinfo=UTC)]
    clock.set_clock(lambda: at[0])
    limits = CountingLimits(app.extensions["warroom.limits"])
    guard = FloodGuard(limits)  # type: ignore[arg-type]
    assert guard.wait_s(1, 1, rate_per_s=5, burst=300) == 0.0  # the first request reads the centre's counts
    at[0] += timedelta(seconds=FloodGuard.FLUSH_S * 1.5)  # the next flush is due
    with guard._flush_lock:  # and under way in another request, waiting on the database
        assert all(guard.wait_s(unit_id, 1, rate_per_s=5, burst=300) == 0.0 for unit_id in range(2, 20))
    assert limits.incr_calls == []
    at[0] += timedelta(seconds=FloodGuard.CENTRE_FRESH_S)  # no flush could read them for that long
    with guard._flush_lock:
        assert guard.wait_s(20, 1, rate_per_s=5, burst=300) == 0.0
    assert [list(call) for call in limits.incr_calls] == [["LIMITER/gps/20/300/60/second"]]  # asked at once


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_consecutive_batches_are_written_on_one_connection(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    unit_id = f.unit("DMK-01", fix_age_s=None).id
    db.session.commit()
    checkouts: list[object] = []
    monkeypatch.setattr(fix_writer_module, "MAX_BATCH", 1)
    writer, answers, engine = FixWriter(), [], db.engine
    own = writer._pool(engine)  # the writer's own connection, not the app's pool
    sa.event.listen(own, "checkout", lambda *args: checkouts.append(args))
    original = writer._write

    def second_request_arrives_meanwhile(connection: Any, batch: Any, retry: bool = False) -> bool:
        if not answers:
            answers.append("first")
            follower = threading.Thread(target=lambda: answers.append(writer.write(engine, fix(unit_id, 2))))
            follower.start()
            while len(writer._queue) < 1:  # queued behind the leader's batch
                threading.Event().wait(0.01)
        return original(connection, batch, retry)

    monkeypatch.setattr(writer, "_write", second_request_arrives_meanwhile)
    first = writer.write(engine, fix(unit_id, 1))
    for _ in range(500):
        if len(answers) == 2:
            break
        threading.Event().wait(0.01)
    assert first.stored and answers[1].stored
    assert len(checkouts) == 1  # the leader handed its connection on with the lead
    assert own.pool.checkedout() == 0 and not writer._writing  # the last one gave it back
    assert db.engine.pool.checkedout() == 0
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Position)) == 2


def fix(unit_id: int, second: int) -> dict[str, Any]:
    return {
        "unit_id": unit_id,
        "lat": -1.26,
        "lon": 116.84,
        "fix_at": T0 + timedelta(seconds=second),
        "received_at": T0 + timedelta(minutes=1),
        "accuracy_m": 8.0,
        "speed_mps": None,
        "bearing_deg": None,
        "battery_pct": None,
        "event": f'{{"id": {unit_id}}}',
    }
