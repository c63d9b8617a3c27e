"""The call-takers' SIP MESSAGE replies the agent has handed to pjsua2, until each has its outcome.

pjsua2 reports a MESSAGE's final response (`onInstantMessageStatus`) with the destination URI
and the body, but not which of our messages it was: its `userData` token cannot carry a Python
value through the SWIG binding. So each destination has at most one reply in flight, and the
report for a destination is the report for that reply; the others wait their turn, in the order
the call-taker wrote them (which is also the order the phone gets them). Stdlib only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    message_id: int
    to: str
    body: str


def delivery_status(code: int) -> str:
    """Only a 2xx final response means the phone took the reply."""
    return "sent" if 200 <= code < 300 else "failed"


class RepliesInFlight:
    """Used from the pjsua2 thread only."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}
        self._waiting: dict[str, deque[Reply]] = {}

    def offer(self, reply: Reply) -> bool:
        """True: send it now (it is in flight from here on); False: it waits for the one in flight to `to`."""
        if reply.to in self._in_flight:
            self._waiting.setdefault(reply.to, deque()).append(reply)
            return False
        self._in_flight[reply.to] = reply.message_id
        return True

    def settle(self, to: str, message_id: int | None = None) -> tuple[int | None, Reply | None]:
        """The reply in flight to `to` has its outcome: (its id, the next reply to send now, in flight
        from here on). With `message_id`, only if that is the one in flight (else (None, None))."""
        settled = self._in_flight.get(to)
        if settled is None or (message_id is not None and settled != message_id):
            return None, None
        del self._in_flight[to]
        waiting = self._waiting.get(to)
        if not waiting:
            self._waiting.pop(to, None)
            return settled, None
        following = waiting.popleft()
        if not waiting:
            del self._waiting[to]
        self._in_flight[to] = following.message_id
        return settled, following

    def abandon(self) -> list[int]:
        """Every reply in flight or waiting (the agent is stopping: their outcome will never come)."""
        ids = [*self._in_flight.values(), *(r.message_id for queue in self._waiting.values() for r in queue)]
        self._in_flight.clear()
        self._waiting.clear()
        return ids

    def __len__(self) -> int:
        return len(self._in_flight) + sum(len(queue) for queue in self._waiting.values())
