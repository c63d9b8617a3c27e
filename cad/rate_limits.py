"""Limits counted once for the whole centre (login lockout, GPS flood), with the `limits` library.

Every worker process of every centre node counts in the same shared storage, so N workers on M
machines allow what one process would. The storage is the centre's database unless
`WARROOM_REDIS_URL` names a Redis server (then `limits`' own Redis storage). `limits` has no SQL
storage, so `SqlStorage` is one on our database: a counter table with an atomic upsert (fixed
window) and a table of entries (moving window), expired rows swept now and then. Its time is the
centre's clock (`cad.clock`), so tests move it; Redis keeps its own time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MovingWindowSupport, RedisStorage, Storage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from cad import clock
from cad.db import UTCDateTime
from cad.models import RateLimitCounter, RateLimitEntry

log = logging.getLogger(__name__)

_COUNTERS = RateLimitCounter.__table__
_ENTRIES = RateLimitEntry.__table__
#: Expired rows of every key are deleted at most this often (each key's own on each use).
SWEEP_EVERY_S = 60.0
#: The key prefix in Redis.
REDIS_PREFIX = "warroom"
#: What `limits` puts first in every key.
_NAMESPACE = RateLimitItemPerSecond(1).namespace


def per_seconds(amount: int, seconds: float) -> RateLimitItem:
    """`amount` per `seconds` (whole seconds, at least one), as `limits` counts."""
    return RateLimitItemPerSecond(max(1, int(amount)), max(1, round(seconds)))


class SqlStorage(Storage, MovingWindowSupport):
    """A `limits` storage on the centre's database (SQLite or PostgreSQL).

    Each call is a short transaction of its own on a pooled connection, apart from the
    request's session: a counted attempt stays counted whatever the request does next."""

    STORAGE_SCHEME = None  # built from an engine, never from a URI

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self._swept_s = -float("inf")
        self._sweep_lock = threading.Lock()
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        upsert = dialect.insert(_COUNTERS)
        now = sa.bindparam("now", type_=UTCDateTime())
        expired = _COUNTERS.c.expires_at <= now
        self._incr = upsert.on_conflict_do_update(
            index_elements=[_COUNTERS.c.key],
            set_={
                "count": sa.case((expired, upsert.excluded.count), else_=_COUNTERS.c.count + upsert.excluded.count),
                "expires_at": sa.case((expired, upsert.excluded.expires_at), else_=_COUNTERS.c.expires_at),
            },
        ).returning(_COUNTERS.c.key, _COUNTERS.c.count, _COUNTERS.c.expires_at)
        self._incr_pg = _incr_from_arrays() if dialect is postgresql else None

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    # --- fixed window: one counter row per key ---------------------------------------------

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self.incr_many({key: amount}, expiry)[key][0]

    def incr_many(self, amounts: Mapping[str, int], expiry: int) -> dict[str, tuple[int, float]]:
        """Add to several counters at once: each key's count and when its window ends (epoch
        seconds). Keys are written in order, so two processes never deadlock. On PostgreSQL one
        statement whatever the number of keys (two arrays), on SQLite one per key."""
        if not amounts:
            return {}
        now = clock.now()
        ends = now + timedelta(seconds=expiry)
        keys = sorted(amounts)
        if self._incr_pg is not None:  # one statement, atomic on its own: no BEGIN and COMMIT round trips
            given = {"keys": keys, "counts": [amounts[key] for key in keys], "ends": ends, "now": now}
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                self._sweep(connection, now)
                result = connection.execute(self._incr_pg, given).all()
        else:
            rows = [{"key": key, "count": amounts[key], "expires_at": ends, "now": now} for key in keys]
            with self.engine.begin() as connection:
                self._sweep(connection, now)
                result = connection.execute(self._incr, rows if len(rows) > 1 else rows[0]).all()
        return {row.key: (int(row.count), row.expires_at.timestamp()) for row in result}

    def counts(self, name: str) -> dict[str, tuple[int, float]]:
        """Every fixed-window counter of the limit `name` whose window is not over: its count and
        when its window ends (epoch seconds), by key; one query."""
        now = clock.now()
        prefix = f"{_NAMESPACE}/{name}/"
        query = sa.select(_COUNTERS.c.key, _COUNTERS.c.count, _COUNTERS.c.expires_at).where(
            _COUNTERS.c.key.startswith(prefix, autoescape=True), _COUNTERS.c.expires_at > now
        )
        with self.engine.connect() as connection:
            return {key: (int(count), ends.timestamp()) for key, count, ends in connection.execute(query)}

    def get(self, key: str) -> int:
        with self.engine.connect() as connection:
            count = connection.scalar(
                sa.select(_COUNTERS.c.count).where(_COUNTERS.c.key == key, _COUNTERS.c.expires_at > clock.now())
            )
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        now = clock.now()
        with self.engine.connect() as connection:
            ends = connection.scalar(
                sa.select(_COUNTERS.c.expires_at).where(_COUNTERS.c.key == key, _COUNTERS.c.expires_at > now)
            )
        return (ends or now).timestamp()

    # --- moving window: one row per entry ----------------------------------------------------

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """Add `amount` entries unless the window would then hold more than `limit`: counted and
        added under a lock on the key, so concurrent workers never both take the last place."""
        now = clock.now()
        start = now - timedelta(seconds=expiry)
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0))))
            # on SQLite this write takes the database's write lock first, before the count
            connection.execute(sa.delete(_ENTRIES).where(_ENTRIES.c.key == key, _ENTRIES.c.at <= start))
            held = connection.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(_ENTRIES.c.amount), 0)).where(_ENTRIES.c.key == key)
            )
            if int(held) + amount > limit:
                return False
            connection.execute(
                sa.insert(_ENTRIES).values(key=key, at=now, amount=amount, expires_at=now + timedelta(seconds=expiry))
            )
            self._sweep(connection, now)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(when the oldest entry in the window was added, how many the window holds)."""
        now = clock.now()
        with self.engine.connect() as connection:
            oldest, held = connection.execute(
                sa.select(sa.func.min(_ENTRIES.c.at), sa.func.coalesce(sa.func.sum(_ENTRIES.c.amount), 0)).where(
                    _ENTRIES.c.key == key, _ENTRIES.c.at > now - timedelta(seconds=expiry)
                )
            ).one()
        if not held:
            return now.timestamp(), 0
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)  # min() comes back untyped on SQLite
        return oldest.timestamp(), int(held)

    # --- both ----------------------------------------------------------------------------------

    def clear(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(_COUNTERS).where(_COUNTERS.c.key == key))
            connection.execute(sa.delete(_ENTRIES).where(_ENTRIES.c.key == key))

    def reset(self) -> int | None:
        with self.engine.begin() as connection:
            return int(
                connection.execute(sa.delete(_COUNTERS)).rowcount + connection.execute(sa.delete(_ENTRIES)).rowcount
            )

    def check(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.scalar(sa.select(1))
        except SQLAlchemyError:
            return False
        return True

    def _sweep(self, connection: Connection, now: datetime) -> None:
        """Delete every key's expired rows, at most once per SWEEP_EVERY_S in this process."""
        now_s = now.timestamp()
        with self._sweep_lock:
            if now_s - self._swept_s < SWEEP_EVERY_S:
                return
            self._swept_s = now_s
        connection.execute(sa.delete(_COUNTERS).where(_COUNTERS.c.expires_at <= now))
        connection.execute(sa.delete(_ENTRIES).where(_ENTRIES.c.expires_at <= now))


def _incr_from_arrays() -> sa.Insert:
    """PostgreSQL's upsert of many counters in one statement: the keys and amounts as two arrays
    (unnest), the window's end and now once, rows taken in key order."""
    now = sa.bindparam("now", type_=UTCDateTime())
    given = (
        sa.func.unnest(
            sa.bindparam("keys", type_=postgresql.ARRAY(sa.String)),
            sa.bindparam("counts", type_=postgresql.ARRAY(sa.Integer)),
        )
        .table_valued("key", "count")
        .render_derived()
    )
    upsert = postgresql.insert(_COUNTERS).from_select(
        ["key", "count", "expires_at"],
        sa.select(given.c.key, given.c.count, sa.bindparam("ends", type_=UTCDateTime())).order_by(given.c.key),
    )
    expired = _COUNTERS.c.expires_at <= now
    return upsert.on_conflict_do_update(
        index_elements=[_COUNTERS.c.key],
        set_={
            "count": sa.case((expired, upsert.excluded.count), else_=_COUNTERS.c.count + upsert.excluded.count),
            "expires_at": sa.case((expired, upsert.excluded.expires_at), else_=_COUNTERS.c.expires_at),
        },
    ).returning(_COUNTERS.c.key, _COUNTERS.c.count, _COUNTERS.c.expires_at)


@dataclass
class SharedLimits:
    """The centre's shared storage with `limits`' strategies over it, and the storage's clock."""

    storage: Storage
    now_s: Callable[[], float]

    def __post_init__(self) -> None:
        self.moving = MovingWindowRateLimiter(self.storage)
        self.fixed = FixedWindowRateLimiter(self.storage)

    def wait_s(self, item: RateLimitItem, *identifiers: str) -> float:
        """Seconds until the moving window of `item` has room again (0: it has now)."""
        stats = self.moving.get_window_stats(item, *identifiers)
        return 0.0 if stats.remaining > 0 else max(0.0, stats.reset_time - self.now_s())

    def held(self, item: RateLimitItem, *identifiers: str) -> int:
        """How many entries the moving window of `item` holds now."""
        return item.amount - self.moving.get_window_stats(item, *identifiers).remaining

    def counts(self, name: str) -> dict[str, tuple[int, float]] | None:
        """The fixed-window counters of the limit `name` (key → count, window's end in epoch s), or
        None when the storage cannot list them cheaply (Redis). Raises `limits.errors.StorageError`."""
        if not isinstance(self.storage, SqlStorage):
            return None
        try:
            return self.storage.counts(name)
        except self.storage.base_exceptions as error:
            raise StorageError(error) from error

    def incr_many(self, amounts: Mapping[str, int], expiry: int) -> dict[str, tuple[int, float]]:
        """Fixed-window counters: add to each key; its count and when its window ends (epoch s).
        Raises `limits.errors.StorageError` when the storage cannot be reached."""
        try:
            if isinstance(self.storage, SqlStorage):
                return self.storage.incr_many(amounts, expiry)
            counted = {}
            for key, amount in sorted(amounts.items()):
                count = self.storage.incr(key, expiry, amount=amount)
                counted[key] = (count, self.storage.get_expiry(key))
            return counted
        except self.storage.base_exceptions as error:
            raise StorageError(error) from error


def shared_limits(engine: Engine, redis_url: str = "") -> SharedLimits:
    """The centre's limits: in Redis when `redis_url` is set, else in the database of `engine`."""
    if redis_url:
        return SharedLimits(RedisStorage(redis_url, key_prefix=REDIS_PREFIX), time.time)
    return SharedLimits(SqlStorage(engine), lambda: clock.now().timestamp())
