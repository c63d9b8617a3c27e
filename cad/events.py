"""The one event bus.

A change is written to `live_events` in the transaction that makes it (so it exists only if
that commits) and, after the commit, handed at once to this process's Server-Sent-Event
subscribers. A poller thread per process reads the rows other processes wrote (another
gunicorn worker, the scheduler) and hands those on too: every console hears every change,
whichever process made it, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cad import clock
from cad.models import LiveEvent

log = logging.getLogger(__name__)
_PENDING = "warroom_pending_events"
KEEP = timedelta(hours=1)


@dataclass(frozen=True)
class Change:
    id: int
    kind: str
    data: dict[str, Any]

    def as_sse(self) -> str:
        return f"id: {self.id}\nevent: {self.kind}\ndata: {json.dumps(self.data, default=str)}\n\n"


class EventBus:
    def __init__(self, backlog: int = 1000, poll_s: float = 0.2) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[Change | None]] = []
        self._backlog = backlog
        self._poll_s = poll_s
        self._engine: Engine | None = None
        self._poller: threading.Thread | None = None
        self._seen: dict[int, float] = {}  # ids this process already delivered
        self._last_id = 0

    def attach(self, engine: Engine) -> None:
        """Read other processes' changes from this database."""
        with self._lock:
            if engine is not self._engine:
                self._engine = engine
                self._last_id = -1  # unknown until the poller looks

    def detach(self, engine: Engine) -> None:
        """The app that owns `engine` is closing: its streams end and nothing reads from it any more."""
        with self._lock:
            if engine is not self._engine:
                return
            self._engine = None
            subscribers, self._subscribers = self._subscribers, []
        for q in subscribers:
            with contextlib.suppress(queue.Full):
                q.put_nowait(None)

    def publish(self, change: Change) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
            self._seen[change.id] = time.monotonic()
        for q in subscribers:
            with contextlib.suppress(queue.Full):  # a stalled browser must not stall the centre
                q.put_nowait(change)

    def subscribe(self) -> queue.Queue[Change | None]:
        q: queue.Queue[Change | None] = queue.Queue(self._backlog)
        with self._lock:
            self._subscribers.append(q)
            if self._poller is None and self._engine is not None:
                self._last_id = -1
                self._poller = threading.Thread(target=self._poll, name="live-events", daemon=True)
                self._poller.start()
        return q

    def unsubscribe(self, q: queue.Queue[Change | None]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def stream(self, heartbeat_s: float = 15.0, accept: Callable[[Change], bool] | None = None) -> Iterator[str]:
        """The changes as Server-Sent Events; `accept` keeps back those this listener may not see."""
        q = self.subscribe()
        try:
            yield ": connected\n\n"
            while True:
                try:
                    change = q.get(timeout=heartbeat_s)
                except queue.Empty:
                    yield ": keep-alive\n\n"
                    continue
                if change is None:  # the centre is closing
                    return
                if accept is None or accept(change):
                    yield change.as_sse()
        finally:
            self.unsubscribe(q)

    def _poll(self) -> None:
        """Runs while anyone listens: hands on the rows other processes wrote."""
        table = LiveEvent.__table__
        next_cleanup = time.monotonic() + 60
        while True:
            time.sleep(self._poll_s)
            with self._lock:
                if not self._subscribers:
                    self._poller = None
                    return
            engine = self._engine
            if engine is None:
                continue
            try:
                with engine.connect() as conn:
                    if self._last_id < 0:  # start from now: consoles load the present state themselves
                        self._last_id = int(conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0)
                        continue
                    rows = conn.execute(
                        sa.select(table.c.id, table.c.kind, table.c.data)
                        .where(table.c.id > self._last_id)
                        .order_by(table.c.id)
                        .limit(1000)
                    ).all()
                    if time.monotonic() > next_cleanup:
                        next_cleanup = time.monotonic() + 60
                        conn.execute(sa.delete(table).where(table.c.at < clock.now() - KEEP))
                        conn.commit()
            except sa.exc.DBAPIError as error:
                log.warning("live events not read (retrying): %s", error.orig)
                continue
            for event_id, kind, data in rows:
                self._last_id = max(self._last_id, event_id)
                with self._lock:
                    delivered_here = self._seen.pop(event_id, None) is not None
                if not delivered_here:
                    self.publish(Change(event_id, kind, data))
            with self._lock:  # forget local ids the poller will never meet (rolled past)
                horizon = time.monotonic() - 60
                for stale in [i for i, t in self._seen.items() if t < horizon]:
                    del self._seen[stale]


bus = EventBus()


def publish_after_commit(session: Session, kind: str, data: dict[str, Any]) -> None:
    """Record a change in this transaction; consoles hear of it only if the transaction commits."""
    row = LiveEvent(kind=kind, data=json.loads(json.dumps(data, default=str)), at=clock.now())
    session.add(row)
    session.info.setdefault(_PENDING, []).append(row)


def publish_committed(change: Change) -> None:
    """A change whose `live_events` row a statement of the caller's already committed (the hot
    GPS path writes it in its one autocommit statement): this process's consoles hear it now."""
    bus.publish(change)


@event.listens_for(Session, "before_commit")
def _number(session: Session) -> None:
    if session.info.get(_PENDING):
        session.flush()
        session.info[_PENDING] = [
            r if isinstance(r, Change) else Change(r.id, r.kind, r.data) for r in session.info[_PENDING]
        ]


@event.listens_for(Session, "after_commit")
def _flush(session: Session) -> None:
    for change in session.info.pop(_PENDING, []):
        if isinstance(change, Change):
            bus.publish(change)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
