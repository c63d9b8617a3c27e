"""Who may drive the demo city's vehicles (pure).

The simulator gives every unit a new GPS token and sends fixes with it: a second simulator doing
the same breaks the first one's vehicles. So one holds a lease (renewed every RENEW_EVERY_S, lasting
LEASE_S) and the others refuse, unless it ran out (its holder died without releasing it) or its
holder is a process on this very machine that no longer exists (no need to wait out a crash).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

#: A lease lasts this long after its last renewal; the holder renews it every RENEW_EVERY_S.
LEASE_S = 30.0
RENEW_EVERY_S = 10.0


@dataclass(frozen=True)
class LeaseHeld:
    holder: str
    host: str
    pid: int
    since: datetime
    expires_at: datetime

    def describe(self) -> str:
        return f"{self.host} (pid {self.pid}) since {self.since:%Y-%m-%d %H:%M:%S} UTC"


class Verdict(StrEnum):
    TAKE = "take"  # nobody holds it, or the holder is gone: take it
    RENEW = "renew"  # it is ours
    REFUSE = "refuse"  # another simulator holds it


def verdict(current: LeaseHeld | None, me: str, now: datetime, holder_alive: bool | None) -> Verdict:
    """`holder_alive`: whether the holder's process runs (None when it is on another machine)."""
    if current is None:
        return Verdict.TAKE
    if current.holder == me:
        return Verdict.RENEW
    if current.expires_at <= now or holder_alive is False:
        return Verdict.TAKE
    return Verdict.REFUSE
