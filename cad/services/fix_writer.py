"""Single GPS fixes from many request threads of one process, written to PostgreSQL together.

Every unit reports a fix every few seconds, each in a request of its own (the OsmAnd /
Traccar Client protocol). Written one statement per request, the statement's round trip and
the database's work per statement cost more than the rest of the request. So the requests of
a process that arrive together are written together: ONE autocommit statement stores every
waiting fix (skipping duplicates), moves each unit only forward in time and writes the live
events, and each request wakes with its own outcome (group commit). Nothing is answered
before it is committed; under no load a batch is one fix and no time is spent waiting for
company. The statement locks its units in id order before it writes, so the batches of two
processes that share units wait for each other instead of deadlocking.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from cad.domain.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

#: The most fixes one statement takes.
MAX_BATCH = 500
#: A request waits at most this long for its fix to be written.
WAIT_S = 15.0

#: The columns of a fix and their types, in the statement's order.
_TYPES = (
    ("unit_id", "integer"),
    ("lat", "double precision"),
    ("lon", "double precision"),
    ("fix_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("accuracy_m", "double precision"),
    ("speed_mps", "double precision"),
    ("bearing_deg", "double precision"),
    ("battery_pct", "double precision"),
    ("event", "text"),
)
_COLUMNS = tuple(name for name, _ in _TYPES)
#: The input of a batch: each column an array, unnested (n: the fix's place in the batch).
_MANY = (
    "SELECT * FROM unnest("
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _TYPES)
    + f") WITH ORDINALITY AS t({', '.join(_COLUMNS)}, n)"
)
#: The input of a lone fix (the usual batch when vehicles report at their own pace): plain
#: parameters, which the driver sends for about 140 us less CPU than ten one-element arrays.
_ONE = "SELECT " + ", ".join(f"CAST(:{name} AS {kind}) AS {name}" for name, kind in _TYPES) + ", 1 AS n"

_STATEMENT = """
WITH input AS (
    {input}
), locked AS (
    SELECT u.id FROM units AS u WHERE u.id IN (SELECT unit_id FROM input) ORDER BY u.id FOR NO KEY UPDATE
), ins AS (
    INSERT INTO positions (unit_id, lat, lon, fix_at, received_at, accuracy_m, speed_mps, bearing_deg,
                           battery_pct, source)
    SELECT i.unit_id, i.lat, i.lon, i.fix_at, i.received_at, i.accuracy_m, i.speed_mps, i.bearing_deg,
           i.battery_pct, 'gps'
    FROM input AS i JOIN locked AS u ON u.id = i.unit_id
    ON CONFLICT (unit_id, fix_at) DO NOTHING
    RETURNING unit_id, fix_at
), newest AS (
    SELECT DISTINCT ON (i.unit_id) i.*
    FROM input AS i JOIN ins AS s ON s.unit_id = i.unit_id AND s.fix_at = i.fix_at
    ORDER BY i.unit_id, i.fix_at DESC
), moved AS (
    UPDATE units AS u SET lat = n.lat, lon = n.lon, position_at = n.fix_at, position_accuracy_m = n.accuracy_m
    FROM newest AS n
    WHERE u.id = n.unit_id AND (u.position_at IS NULL OR u.position_at < n.fix_at)
    RETURNING u.id, n.fix_at, u.status, u.status_changed_at, u.station_id
), ev AS (
    INSERT INTO live_events (kind, data, at)
    SELECT 'unit', CAST(n.event AS json), n.received_at FROM newest AS n JOIN moved AS m ON m.id = n.unit_id
    RETURNING id, CAST(data ->> 'id' AS integer) AS unit_id
)
SELECT i.n, u.id IS NOT NULL AS known, s.fix_at IS NOT NULL AS stored,
       m.status AS moved_status, m.status_changed_at, m.station_id, e.id AS event_id,
       u.status, u.lat, u.lon, u.position_at, u.position_accuracy_m
FROM input AS i
LEFT JOIN units AS u ON u.id = i.unit_id
LEFT JOIN ins AS s ON s.unit_id = i.unit_id AND s.fix_at = i.fix_at
LEFT JOIN moved AS m ON m.id = i.unit_id AND m.fix_at = i.fix_at
LEFT JOIN ev AS e ON e.unit_id = i.unit_id AND m.id IS NOT NULL
"""
_FIXES = sa.text(_STATEMENT.format(input=_MANY))
_FIX = sa.text(_STATEMENT.format(input=_ONE))


@dataclass(frozen=True)
class Written:
    """What became of one fix: whether it was stored and whether it moved its unit, with the
    unit as it was before (its current position when the fix did not move it)."""

    known: bool
    stored: bool
    moved_status: str | None
    status_changed_at: datetime | None
    station_id: int | None
    event_id: int | None
    status: str | None
    lat: float | None
    lon: float | None
    position_at: datetime | None
    position_accuracy_m: float | None


@dataclass
class _Waiting:
    values: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    written: Written | None = None
    failure: str | None = None

    def finish(self, written: Written | None = None, failure: str | None = None) -> None:
        self.written, self.failure = written, failure
        self.done.set()


class FixWriter:
    """One per database engine and process; see the module's docstring.

    No thread of its own: the first request to arrive while nobody writes is the leader and
    writes the batch itself; whoever comes meanwhile queues, and when the leader is done the
    first of them leads the next batch. So a lone fix costs no hand-over between threads.
    The leader hands its connection (the writer's own, `_pool`) on with the lead: under load one
    connection writes batch after batch without a checkout each; the last leader returns it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False
        self._connection: Connection | None = None
        self._pools: dict[Engine, Engine] = {}  # the app's engine → the writer's own

    def _pool(self, engine: Engine) -> Engine:
        """The writer's own connection to `engine`'s database: one leader writes at a time, so one
        connection, kept in a pool of one without the app pool's ping before each use (a round
        trip per lone fix). A connection the database dropped meanwhile fails its first statement
        and that batch is written again on a new one (`_lead`)."""
        own = self._pools.get(engine)
        if own is None:
            own = sa.create_engine(
                engine.url, pool_size=1, max_overflow=0, pool_timeout=WAIT_S, isolation_level="AUTOCOMMIT"
            )
            weakref.finalize(self, own.dispose)
            self._pools[engine] = own
        return own

    def close(self) -> None:
        """Release the writer's connections (the app is closing)."""
        for own in self._pools.values():
            own.dispose()

    def write(self, engine: Engine, values: dict[str, Any]) -> Written:
        """Store one fix (`values` as the columns of _COLUMNS; `event` the live event's JSON) and
        wait until it is committed. Raises DatabaseUnavailable when it could not be."""
        me = _Waiting(values)
        with self._lock:
            self._queue.append(me)
            if not self._writing:
                self._writing = me.leads = True
        if not me.leads and not me.done.wait(WAIT_S):
            with self._lock:
                if me in self._queue and not me.done.is_set():  # nobody took it: leave
                    self._queue.remove(me)
                    raise DatabaseUnavailable("the position was not stored in time; nothing was stored, retry")
            me.done.wait(WAIT_S)  # in a batch being written (or just made leader)
        if me.leads:
            self._lead(engine)
        if me.written is None:
            raise DatabaseUnavailable(
                f"the database is not reachable; the position may not be stored, retry ({me.failure or 'timeout'})"
            )
        return me.written

    def _lead(self, engine: Engine) -> None:
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            connection, self._connection = self._connection, None
        try:
            if connection is None:
                connection = self._pool(engine).connect()
            try:
                written = self._write(connection, batch, retry=True)
            except _Stale:  # dropped while idle (the database restarted): once more on a new connection
                connection.close()
                connection = self._pool(engine).connect()
                written = self._write(connection, batch)
            if not written:  # the database went away: the next leader connects afresh
                connection.invalidate()
        except DBAPIError as error:  # no connection to be had
            log.error("GPS fixes not written, database unavailable: %s", error.orig)
            for waiting in batch:
                waiting.finish(failure=type(error.orig).__name__)
        except Exception as error:  # whatever happened, every waiter hears of it (503) and one leads on
            log.exception("GPS fixes not written")
            for waiting in batch:
                if waiting.written is None:
                    waiting.finish(failure=type(error).__name__)
            if connection is not None:
                connection.invalidate()
        finally:
            if connection is not None and connection.invalidated:
                connection.close()
                connection = None
            with self._lock:
                if self._queue:
                    self._connection, connection = connection, None
                    successor = self._queue[0]
                    successor.leads = True
                    successor.done.set()
                else:
                    self._writing = False
            if connection is not None:  # nobody waits: back to the pool
                connection.close()

    def _write(self, connection: Connection, batch: list[_Waiting], retry: bool = False) -> bool:
        """Write a batch and wake each of its requests; False when the database could not be reached.
        With `retry`, a connection found dead by the batch's statement raises _Stale instead,
        nobody woken: nothing was written."""
        first: dict[tuple[int, datetime], _Waiting] = {}
        repeats: list[tuple[_Waiting, _Waiting]] = []
        for waiting in batch:  # the same fix twice in one batch: the second is a duplicate of the first
            key = (waiting.values["unit_id"], waiting.values["fix_at"])
            if key in first:
                repeats.append((waiting, first[key]))
            else:
                first[key] = waiting
        unique = list(first.values())
        if len(unique) == 1:
            statement, params = _FIX, {column: unique[0].values[column] for column in _COLUMNS}
        else:
            statement, params = _FIXES, {column: [waiting.values[column] for waiting in unique] for column in _COLUMNS}
        try:
            rows = connection.execute(statement, params).all()
        except IntegrityError:
            if len(unique) == 1:
                unique[0].finish(Written(False, False, *([None] * 9)))
                return True
            reachable = True
            for waiting in unique:  # a unit deleted meanwhile: write the others one by one
                reachable = self._write(connection, [waiting]) and reachable
            for waiting, original in repeats:
                waiting.finish(_as_repeat(original.written))
            return reachable
        except DBAPIError as error:
            if retry and error.connection_invalidated:
                raise _Stale from error
            log.error("GPS fixes not written, database unavailable: %s", error.orig)
            for waiting in batch:
                waiting.finish(failure=type(error.orig).__name__)
            return False
        for row in rows:
            unique[row.n - 1].finish(Written(*row[1:]))
        for waiting, original in repeats:
            waiting.finish(_as_repeat(original.written))
        return True


class _Stale(Exception):
    """The connection was dead before the statement ran."""


def _as_repeat(written: Written | None) -> Written | None:
    if written is None:
        return None
    return replace(written, stored=False, moved_status=None, status_changed_at=None, station_id=None, event_id=None)


_WRITERS: weakref.WeakKeyDictionary[Engine, FixWriter] = weakref.WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


def close_fix_writer(engine: Engine) -> None:
    """Release the connections of `engine`'s writer, if this process has one."""
    with _WRITERS_LOCK:
        writer = _WRITERS.pop(engine, None)
    if writer is not None:
        writer.close()


def fix_writer(engine: Engine) -> FixWriter:
    """This process's writer for `engine`."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(engine)
        if writer is None:
            writer = _WRITERS[engine] = FixWriter()
        return writer
