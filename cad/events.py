"""The event bus: one per app (`app.extensions["warroom.bus"]`, attached to the app's database).

A change is written to `live_events` in the transaction that makes it (so it exists only if
that commits) and, after the commit, handed at once to this process's Server-Sent-Event
streams. One follower per process reads the rows other processes wrote (another gunicorn
worker, the scheduler, the other node) and hands those on too: every console hears every
change, whichever process or machine made it.

- **Waking up.** On PostgreSQL the follower sleeps on `LISTEN warroom_live_events`; a trigger
  on `live_events` notifies at each commit (migration 0010), so a change reaches the other
  processes in milliseconds and an idle centre reads nothing. The notification only wakes it:
  what it hands on always comes from the table, so a notification lost while the follower
  reconnects is made up by the read that follows. SQLite has no NOTIFY: there it polls.
- **Holes.** Ids come from a sequence at insert, commits come in any order: 101 may be
  visible before 100 is. The follower remembers the ids it skipped for `HOLE_S` and reads
  them again, so a slow transaction's change is handed on late rather than never.
- **Streams cost a queue, not a thread.** Under gunicorn's gevent workers a stream is a
  greenlet waiting on its queue; a change is put only on the queues of those who may hear it
  (consoles: all; a crew: its own unit), and a stream writes whatever is waiting in one chunk.
- **Nothing missed.** Each event carries `id:` (its row id, the same on every node). A
  browser that reconnects sends `Last-Event-ID`; the stream replays the table after it (and
  the last `HOLE_S` seconds before it: a duplicate is harmless, consoles drop it). A stream
  that falls `backlog` changes behind is closed rather than fed with gaps: the browser
  reconnects and catches up from the table. A gap the table no longer holds is a `resync`
  event: reload everything.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from cad import clock
from cad.models import LiveEvent

log = logging.getLogger(__name__)
_PENDING = "warroom_pending_events"
KEEP = timedelta(hours=1)
CHANNEL = "warroom_live_events"
FOLLOWER = "warroom-live-events"  # the follower's application_name on PostgreSQL
HOLE_S = 10.0  # how long an id skipped by the sequence may still commit
REPLAY_MAX = 20_000  # rows a resuming stream may replay; further behind, it reloads instead
RETRY_MS = 1000  # how soon a browser reconnects after the stream drops


@dataclass(frozen=True)
class Change:
    id: int
    kind: str
    data: dict[str, Any]

    @functools.cached_property
    def sse(self) -> str:
        """The event as a stream carries it, made once however many streams it goes to."""
        return f"id: {self.id}\nevent: {self.kind}\ndata: {json.dumps(self.data, default=str)}\n\n"

    def units(self) -> frozenset[int]:
        """The units this change is about (a crew hears those of its own unit only)."""
        found = {self.data.get("unit_id")}
        if self.kind == "unit":
            found.add(self.data.get("id"))
        return frozenset(u for u in found if isinstance(u, int))


def may_hear(unit_id: int | None, change: Change) -> bool:
    """What a crew may hear: changes of its own unit, never another unit's job."""
    return unit_id is not None and unit_id in change.units()


@dataclass(frozen=True)
class Audience:
    """Who listens: a console hears every change, a crew only those of its unit."""

    crew: bool = False
    unit_id: int | None = None

    def hears(self, change: Change) -> bool:
        return not self.crew or may_hear(self.unit_id, change)


class _Listener:
    __slots__ = ("audience", "behind", "queue")

    def __init__(self, audience: Audience, backlog: int) -> None:
        self.audience = audience
        self.queue: queue.Queue[Change | None] = queue.Queue(backlog)
        self.behind = False  # its queue overflowed: the stream ends and the browser resumes


class EventBus:
    def __init__(self, backlog: int = 1000, poll_s: float = 0.2, gather_s: float = 0.1) -> None:
        self._lock = threading.Lock()
        self._everything: set[_Listener] = set()  # consoles
        self._by_unit: dict[int, set[_Listener]] = {}  # crews, by their unit
        self._backlog = backlog
        self._poll_s = poll_s  # SQLite: how often the follower reads the table
        self._idle_s = 5.0  # PostgreSQL: how long it waits for a NOTIFY before reading anyway
        # A stream that wakes for a change waits this long for more before it writes: at 80 GPS
        # fixes a second a console writes ten times a second instead of eighty (each write is a
        # wake-up and a system call), and the follower reads once for the commits of that moment.
        self._gather_s = gather_s
        self._engine: Engine | None = None
        self._follower: threading.Thread | None = None
        self._seen: dict[int, float] = {}  # ids this process handed on, oldest first
        self._last_id = -1
        self._holes: dict[int, float] = {}  # ids skipped by the sequence, maybe still to commit
        self._start_lock = threading.Lock()

    # -- the app's database ------------------------------------------------------------------
    def attach(self, engine: Engine) -> None:
        """Hear the changes committed through `engine` at once, and read other processes' changes
        from its database."""
        with self._lock:
            if engine is not self._engine:
                if self._engine is not None:
                    _stop_hearing(self._engine, self)
                self._engine = engine
                self._last_id = -1  # unknown until the follower looks
                self._seen, self._holes = {}, {}  # ids of another database
                _hear(engine, self)

    def detach(self, engine: Engine) -> None:
        """The app that owns `engine` is closing: its streams end and nothing reads from it any more."""
        with self._lock:
            if engine is not self._engine:
                return
            _stop_hearing(engine, self)
            self._engine = None
            listeners = self._listeners()
            self._everything, self._by_unit = set(), {}
        for listener in listeners:
            with contextlib.suppress(queue.Full):
                listener.queue.put_nowait(None)

    # -- listeners ---------------------------------------------------------------------------
    def _listeners(self) -> list[_Listener]:
        return [*self._everything, *(x for group in self._by_unit.values() for x in group)]

    def listening(self) -> int:
        with self._lock:
            return len(self._listeners())

    def publish(self, change: Change, source: Engine | None = None) -> None:
        """Hand `change` to those who may hear it, once: the commit that made it here and the
        follower reading it from the table may both bring it, in either order. `source` is the
        database the follower read it from: a row of a database this process has left (a read
        that was under way when the app was replaced) is nobody's change, and its id must not
        hide the change of the same id in the database now in use."""
        with self._lock:
            if change.id in self._seen or (source is not None and source is not self._engine):
                return
            self._seen[change.id] = time.monotonic()
            targets = list(self._everything)
            for unit in change.units():
                targets.extend(self._by_unit.get(unit, ()))
        for listener in targets:
            try:
                listener.queue.put_nowait(change)
            except queue.Full:  # a stalled browser must not stall the centre: it resumes from the table
                listener.behind = True

    def subscribe(self, audience: Audience = Audience()) -> _Listener:
        listener = _Listener(audience, self._backlog)
        with self._lock:
            if not audience.crew:
                self._everything.add(listener)
            elif audience.unit_id is not None:
                self._by_unit.setdefault(audience.unit_id, set()).add(listener)
            start = self._follower is None and self._engine is not None
            if start:
                self._follower = threading.Thread(target=self._follow, name="live-events", daemon=True)
        # where the follower reads from is fixed before this listener replays anything, so a change
        # committed in between is either in its replay or handed on by the follower
        engine = self._engine
        if engine is not None and self._last_id < 0:
            with contextlib.suppress(sa.exc.DBAPIError), self._start_lock, engine.connect() as conn:
                self._position(conn, engine)
        if start:
            assert self._follower is not None
            self._follower.start()
        return listener

    def unsubscribe(self, listener: _Listener) -> None:
        unit = listener.audience.unit_id
        with self._lock:
            self._everything.discard(listener)
            group = self._by_unit.get(unit) if unit is not None else None
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._by_unit[unit]  # type: ignore[arg-type]

    # -- the stream --------------------------------------------------------------------------
    def stream(
        self, audience: Audience = Audience(), last_event_id: int | None = None, heartbeat_s: float = 15.0
    ) -> Iterator[str]:
        """The changes `audience` may hear as Server-Sent Events, after `last_event_id` if given."""
        listener = self.subscribe(audience)
        try:
            sent: set[int] = set()  # replayed: the same id may still come through the queue
            forget_sent = time.monotonic() + 3 * HOLE_S
            head = f"retry: {RETRY_MS}\n"
            try:
                if last_event_id is None:  # start from now: the console loads the present state itself
                    head += f"id: {self._newest()}\n: connected\n\n"
                else:
                    replay = self._replay(audience, last_event_id)
                    if replay is None:
                        head += f"id: {self._newest()}\nevent: resync\ndata: {{}}\n\n: connected\n\n"
                    else:
                        sent = {c.id for c in replay}
                        head += ": connected\n\n" + "".join(c.sse for c in replay)
            except sa.exc.DBAPIError as error:  # no database: the browser retries, and resumes then
                log.warning("event stream not started: %s", error.orig)
                return
            yield head
            while not listener.behind:
                try:
                    change = listener.queue.get(timeout=heartbeat_s)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                if self._gather_s and change is not None:  # a moment for more: one write, not one each
                    time.sleep(self._gather_s)
                batch = [change]
                with contextlib.suppress(queue.Empty):
                    while len(batch) < 500:
                        batch.append(listener.queue.get_nowait())
                if None in batch:  # the centre is closing
                    return
                chunk = "".join(c.sse for c in batch if c is not None and c.id not in sent)
                if sent and time.monotonic() > forget_sent:
                    sent.clear()
                if chunk:
                    yield chunk
        finally:
            self.unsubscribe(listener)

    def _newest(self) -> int:
        engine = self._engine
        if engine is None:
            return 0
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(LiveEvent.__table__.c.id))).scalar() or 0)

    def _replay(self, audience: Audience, after: int) -> list[Change] | None:
        """What `audience` may hear after id `after`, and the last HOLE_S seconds' before it (a
        change committed late); None when the table no longer holds all of it (reload instead)."""
        engine = self._engine
        if engine is None:
            return []
        table = LiveEvent.__table__
        recent = clock.now() - timedelta(seconds=HOLE_S)
        with engine.connect() as conn:
            oldest = conn.execute(sa.select(sa.func.min(table.c.id))).scalar()
            if oldest is not None and after < int(oldest) - 1:
                return None  # swept: what was between is gone
            rows = conn.execute(
                sa.select(table.c.id, table.c.kind, table.c.data)
                .where(table.c.id > after - REPLAY_MAX, sa.or_(table.c.id > after, table.c.at >= recent))
                .order_by(table.c.id)
                .limit(REPLAY_MAX + 1)
            ).all()
        if len(rows) > REPLAY_MAX:
            return None
        changes = (Change(i, kind, data) for i, kind, data in rows)
        return [c for c in changes if audience.hears(c)]

    # -- the follower: other processes' changes ----------------------------------------------
    def _follow(self) -> None:
        """Runs while anyone listens: hands on the rows other processes wrote. It holds one
        connection of its own (not the app's pool): on PostgreSQL it LISTENs and reads on it."""
        source: Engine | None = None  # the app's engine the connection below is to
        conn: Connection | None = None
        next_cleanup = time.monotonic() + 60
        try:
            while True:
                with self._lock:
                    if not self._everything and not self._by_unit:
                        self._follower = None
                        self._last_id = -1  # the next follower starts from its own present
                        return
                engine = self._engine
                if engine is not source:  # another database now (or none)
                    conn = _close(conn)
                    source = engine
                if engine is None:
                    time.sleep(self._poll_s)
                    continue
                try:
                    if conn is None:  # (re)connected: read at once, a notice may have been missed
                        conn = _follower_connection(engine)
                    elif engine.dialect.name == "postgresql":
                        self._wait_for_notice(conn)
                    else:
                        time.sleep(self._poll_s)
                    self._read(conn, engine)
                    if time.monotonic() > next_cleanup:
                        next_cleanup = time.monotonic() + 60
                        table = LiveEvent.__table__
                        conn.execute(sa.delete(table).where(table.c.at < clock.now() - KEEP))
                except (sa.exc.DBAPIError, psycopg.Error) as error:
                    log.warning("live events not read (reconnecting): %s", getattr(error, "orig", error))
                    conn = _close(conn)
                    time.sleep(0.2)
        finally:
            _close(conn)

    def _wait_for_notice(self, conn: Connection) -> None:
        """Sleep until another process commits a change, or `_idle_s` passes (a second while a
        skipped id may still commit)."""
        listen = conn.connection.driver_connection
        assert isinstance(listen, psycopg.Connection)
        for _ in listen.notifies(timeout=1.0 if self._holes else self._idle_s, stop_after=1):
            break
        time.sleep(self._gather_s / 2)
        for _ in listen.notifies(timeout=0):  # several commits, one read
            pass

    def _position(self, conn: Connection, source: Engine) -> None:
        """Fix where the follower starts: the newest row, and the ids below it that are not
        (yet) in the table, which a transaction still open may commit."""
        if self._last_id >= 0:
            return
        table = LiveEvent.__table__
        newest = int(conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0)
        present = set(conn.execute(sa.select(table.c.id).where(table.c.id > newest - 1000)).scalars())
        now = time.monotonic()
        with self._lock:
            if source is self._engine and self._last_id < 0:
                self._holes = {i: now for i in range(max(newest - 1000, 0) + 1, newest) if i not in present}
                self._last_id = newest

    def _read(self, conn: Connection, source: Engine) -> None:
        """Hand on the rows of `source` this process has not handed on yet."""
        table = LiveEvent.__table__
        if self._last_id < 0:
            with self._start_lock:
                self._position(conn, source)
            return
        holes = list(self._holes)
        wanted = table.c.id > self._last_id
        if holes:
            wanted = sa.or_(wanted, table.c.id.in_(holes))
        rows = conn.execute(
            sa.select(table.c.id, table.c.kind, table.c.data).where(wanted).order_by(table.c.id).limit(1000)
        ).all()
        now = time.monotonic()
        with self._lock:  # where it has read to, kept only while `source` is still this process's database
            if source is not self._engine:
                return
            self._holes = {i: t for i, t in self._holes.items() if now - t < HOLE_S}
            for event_id, _, _ in rows:
                if event_id > self._last_id:
                    for skipped in range(self._last_id + 1, min(event_id, self._last_id + 1000)):
                        self._holes.setdefault(skipped, now)
                    self._last_id = event_id
                self._holes.pop(event_id, None)
            while self._seen:  # forget ids the follower will never meet again (oldest first)
                oldest = next(iter(self._seen))
                if now - self._seen[oldest] < 60:
                    break
                del self._seen[oldest]
        for event_id, kind, data in rows:
            self.publish(Change(event_id, kind, data), source)


def _follower_connection(engine: Engine) -> Connection:
    """The follower's own connection, closed for real when it is done with (no pool to leak
    into when the app's engine is disposed); on PostgreSQL it LISTENs."""
    postgres = engine.dialect.name == "postgresql"
    own = sa.create_engine(
        engine.url,
        poolclass=sa.pool.NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"application_name": FOLLOWER} if postgres else {},
    )
    conn = own.connect()
    if postgres:
        conn.exec_driver_sql(f"LISTEN {CHANNEL}")
    return conn


def _close(conn: Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()
        conn.engine.dispose()


#: The buses attached to each database engine: those of the apps built on it (one in production;
#: a test may attach a bus of its own beside the app's). A commit is handed to these only.
_HEARING: weakref.WeakKeyDictionary[Engine, tuple[EventBus, ...]] = weakref.WeakKeyDictionary()
_HEARING_LOCK = threading.Lock()
_ENGINE = "warroom_pending_events_engine"


def _hear(engine: Engine, bus: EventBus) -> None:
    with _HEARING_LOCK:
        _HEARING[engine] = (*_HEARING.get(engine, ()), bus)


def _stop_hearing(engine: Engine, bus: EventBus) -> None:
    with _HEARING_LOCK:
        left = tuple(b for b in _HEARING.get(engine, ()) if b is not bus)
        if left:
            _HEARING[engine] = left
        else:
            _HEARING.pop(engine, None)


def publish_after_commit(session: Session, kind: str, data: dict[str, Any]) -> None:
    """Record a change in this transaction; consoles hear of it only if the transaction commits."""
    row = LiveEvent(kind=kind, data=json.loads(json.dumps(data, default=str)), at=clock.now())
    session.add(row)
    session.info.setdefault(_PENDING, []).append(row)


def publish_committed(engine: Engine, change: Change) -> None:
    """A change whose `live_events` row a statement of the caller's already committed through
    `engine` (the hot GPS path writes it in its one autocommit statement): the consoles of the
    app on that engine hear it now."""
    for bus in _HEARING.get(engine, ()):
        bus.publish(change)


@event.listens_for(Session, "before_commit")
def _number(session: Session) -> None:
    if session.info.get(_PENDING):
        session.flush()
        session.info[_PENDING] = [
            r if isinstance(r, Change) else Change(r.id, r.kind, r.data) for r in session.info[_PENDING]
        ]
        session.info[_ENGINE] = session.connection().engine  # whose app's consoles hear it


@event.listens_for(Session, "after_commit")
def _flush(session: Session) -> None:
    changes = session.info.pop(_PENDING, [])
    engine = session.info.pop(_ENGINE, None)
    for bus in _HEARING.get(engine, ()) if engine is not None else ():
        for change in changes:
            if isinstance(change, Change):
                bus.publish(change)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_ENGINE, None)
