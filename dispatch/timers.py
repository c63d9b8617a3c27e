"""Acknowledgement deadlines: how long a crew has to acknowledge, by incident priority (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

#: Seconds to acknowledge by priority (1 most urgent): after that the dispatcher is alerted.
DEFAULT_ACK_TIMEOUTS_S: dict[int, float] = {1: 60.0, 2: 90.0, 3: 120.0, 4: 180.0}


def parse_ack_timeouts(text: str) -> dict[int, float]:
    """`"1:45,2:90"` → {1: 45.0, 2: 90.0}, the others from the defaults; ValueError names the bad part."""
    timeouts = dict(DEFAULT_ACK_TIMEOUTS_S)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        priority_text, _, seconds_text = part.partition(":")
        try:
            priority, seconds = int(priority_text), float(seconds_text)
        except ValueError:
            raise ValueError(f"acknowledgement timeout {part!r}: expected PRIORITY:SECONDS") from None
        if priority not in timeouts or not 5 <= seconds <= 3600:
            raise ValueError(f"acknowledgement timeout {part!r}: priority 1-4, 5 to 3600 seconds")
        timeouts[priority] = seconds
    return timeouts


def ack_deadline(assigned_at: datetime, priority: int, timeouts: Mapping[int, float]) -> datetime:
    """When an unacknowledged assignment becomes overdue."""
    return assigned_at + timedelta(seconds=timeouts.get(priority, max(timeouts.values())))
