"""The one event bus: changes are published after their transaction commits, then fanned
out to Server-Sent-Event subscribers in this process."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

_PENDING = "warroom_pending_events"


@dataclass(frozen=True)
class Change:
    kind: str
    data: dict[str, Any]

    def as_sse(self) -> str:
        return f"event: {self.kind}\ndata: {json.dumps(self.data, default=str)}\n\n"


class EventBus:
    def __init__(self, backlog: int = 1000) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue[Change]] = []
        self._backlog = backlog

    def publish(self, change: Change) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for q in subscribers:
            with contextlib.suppress(queue.Full):  # a stalled browser must not stall the centre
                q.put_nowait(change)

    def subscribe(self) -> queue.Queue[Change]:
        q: queue.Queue[Change] = queue.Queue(self._backlog)
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[Change]) -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def stream(self, heartbeat_s: float = 15.0) -> Iterator[str]:
        q = self.subscribe()
        try:
            yield ": connected\n\n"
            while True:
                try:
                    yield q.get(timeout=heartbeat_s).as_sse()
                except queue.Empty:
                    yield ": keep-alive\n\n"
        finally:
            self.unsubscribe(q)


bus = EventBus()


def publish_after_commit(session: Session, kind: str, data: dict[str, Any]) -> None:
    """Queue a change on the session; it leaves the process only if the transaction commits."""
    session.info.setdefault(_PENDING, []).append(Change(kind, data))


@event.listens_for(Session, "after_commit")
def _flush(session: Session) -> None:
    for change in session.info.pop(_PENDING, []):
        bus.publish(change)


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
