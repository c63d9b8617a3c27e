"""The shared storage of the centre's limits (`cad.rate_limits`): the database's and Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from limits.storage import RedisStorage
from requirements import need

from cad import clock
from cad.db import db
from cad.models import RateLimitCounter, RateLimitEntry
from cad.rate_limits import SharedLimits, SqlStorage, per_seconds
from cad.services.positions import FloodGuard

REDIS_URL = os.environ.get("WARROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def test_workers_racing_for_the_last_tries_never_take_more_than_the_limit(app: Flask) -> None:
    other_engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    workers = [
        SharedLimits(SqlStorage(engine), lambda: clock.now().timestamp()) for engine in (db.engine, other_engine)
    ]
    pair = per_seconds(5, 300)
    try:
        with ThreadPoolExecutor(8) as pool:
            taken = list(pool.map(lambda n: workers[n % 2].moving.hit(pair, "login", "hana", "10.1.1.66"), range(24)))
    finally:
        other_engine.dispose()
    assert taken.count(True) == 5
    assert workers[0].wait_s(pair, "login", "hana", "10.1.1.66") > 290


def test_counters_add_up_across_workers_and_expired_rows_are_swept(app: Flask) -> None:
    at = [datetime(2026, 11, 24, 3, 0, tzinfo=UTC)]
    clock.set_clock(lambda: at[0])
    storage = SqlStorage(db.engine)
    assert storage.incr_many({"a": 3, "b": 1}, 60) == {
        "a": (3, at[0].timestamp() + 60),
        "b": (1, at[0].timestamp() + 60),
    }
    assert SqlStorage(db.engine).incr("a", 60, amount=2) == 5 and storage.get("a") == 5
    assert (
        storage.acquire_entry("m", 2, 60)
        and storage.acquire_entry("m", 2, 60)
        and not storage.acquire_entry("m", 2, 60)
    )
    at[0] += timedelta(seconds=61)
    assert storage.get("a") == 0 and storage.get_moving_window("m", 2, 60)[1] == 0
    assert storage.incr("c", 60) == 1  # the first write after SWEEP_EVERY_S deletes every expired row
    db.session.expire_all()
    assert [row.key for row in db.session.query(RateLimitCounter)] == ["c"]
    assert db.session.query(RateLimitEntry).count() == 0


def test_many_counters_at_once_add_up_start_over_and_never_deadlock(app: Flask) -> None:
    """A GPS flush of a thousand units and more: one statement on PostgreSQL, the same counts."""
    at = [datetime(2026, 11, 24, 3, 0, tzinfo=UTC)]
    clock.set_clock(lambda: at[0])
    start = at[0].timestamp()
    storage = SqlStorage(db.engine)
    keys = [f"gps/{n}" for n in range(1500)]
    assert set(storage.incr_many({key: 2 for key in keys[:1000]}, 10).values()) == {(2, start + 10)}
    at[0] += timedelta(seconds=30)  # those windows are over, their rows not swept yet
    assert set(storage.incr_many({key: 1 for key in keys}, 60).values()) == {(1, start + 90)}
    at[0] += timedelta(seconds=10)
    assert set(storage.incr_many({key: 3 for key in keys}, 60).values()) == {(4, start + 90)}
    other_engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    workers = [SqlStorage(engine) for engine in (db.engine, other_engine)]
    shared = keys[:300]
    try:
        with ThreadPoolExecutor(8) as pool:  # workers flushing the same units at once, in any order
            list(pool.map(lambda n: workers[n % 2].incr_many({key: 1 for key in reversed(shared)}, 60), range(16)))
    finally:
        other_engine.dispose()
    assert {storage.get(key) for key in shared} == {20} and storage.get(keys[-1]) == 4


@pytest.fixture
def redis_prefix() -> str:
    """Redis answering at WARROOM_TEST_REDIS_URL, and a key prefix of this test's own."""
    storage = RedisStorage(REDIS_URL)
    need(storage.check(), f"Redis does not answer at {REDIS_URL} (set WARROOM_TEST_REDIS_URL)")
    return f"warroom-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_workers(other_worker: Callable[..., Flask], redis_prefix: str) -> Iterator[list[Flask]]:
    """Two workers counting in Redis (WARROOM_REDIS_URL), each with a connection of its own."""
    workers = [other_worker(WARROOM_REDIS_URL=REDIS_URL) for _ in range(2)]
    for worker in workers:
        limits = worker.extensions["warroom.limits"]
        assert isinstance(limits.storage, RedisStorage)
        limits.storage.key_prefix = redis_prefix  # nobody else's keys, nobody else's counts
    yield workers
    RedisStorage(REDIS_URL).storage.delete(*RedisStorage(REDIS_URL).storage.keys(f"{redis_prefix}*") or ["-"])


def test_in_redis_the_lockout_and_the_flood_limit_are_shared(redis_workers: list[Flask]) -> None:
    one, two = (worker.extensions["warroom.limits"] for worker in redis_workers)
    pair = per_seconds(5, 300)
    assert [(one, two)[n % 2].moving.hit(pair, "login", "hana", "10.1.1.66") for n in range(7)] == [True] * 5 + [
        False
    ] * 2
    assert two.moving.hit(pair, "login", "hana", "10.1.1.7")
    assert 290 < one.wait_s(pair, "login", "hana", "10.1.1.66") <= 300
    first, second = FloodGuard(one), FloodGuard(two)
    assert [first.wait_s(7, 1, rate_per_s=0.01, burst=4) for _ in range(4)] == [0.0] * 4
    first._flush(one.now_s() + FloodGuard.FLUSH_S)  # what the next request a second later does
    assert second.wait_s(7, 1, rate_per_s=0.01, burst=4) > 390
    assert second.wait_s(8, 1, rate_per_s=0.01, burst=4) == 0.0
