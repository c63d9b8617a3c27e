"""When an urgent incident nobody has sent a unit to alerts the dispatchers, and when it alerts again (pure).

Level 1 comes once the incident has waited its priority's threshold; each further level
`every_s` after the one before while nobody acts. A dispatcher who acknowledges the alert
silences it for `SILENCED_INTERVALS` intervals counted from the acknowledgement (then the next
level comes, if the incident still has no unit); while a unit is on it the caller stops asking,
and an incident back in the queue without one (its unit called back, taken elsewhere, or unable to
go) goes on from the level it had reached, at once when that level's time has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Seconds an incident of this priority may wait without a unit before every dispatcher is alerted;
#: priorities not named never alert.
DEFAULT_UNASSIGNED_ALERT_S: dict[int, float] = {1: 60.0, 2: 120.0}
DEFAULT_ESCALATE_EVERY_S = 60.0
#: An acknowledged alert comes back at its next level this many escalation intervals later.
SILENCED_INTERVALS = 2


def parse_unassigned_alert_s(text: str) -> dict[int, float]:
    """`"1:45,3:300"` → {1: 45.0, 2: 120.0, 3: 300.0} (the others from the defaults; `2:off` removes
    priority 2); ValueError names the bad part."""
    thresholds = dict(DEFAULT_UNASSIGNED_ALERT_S)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        priority_text, _, seconds_text = part.partition(":")
        try:
            priority = int(priority_text)
            seconds = None if seconds_text.strip().lower() == "off" else float(seconds_text)
        except ValueError:
            raise ValueError(f"unassigned alert {part!r}: expected PRIORITY:SECONDS or PRIORITY:off") from None
        if priority not in (1, 2, 3, 4) or (seconds is not None and not 5 <= seconds <= 3600):
            raise ValueError(f"unassigned alert {part!r}: priority 1-4, 5 to 3600 seconds")
        if seconds is None:
            thresholds.pop(priority, None)
        else:
            thresholds[priority] = seconds
    return thresholds


@dataclass(frozen=True)
class AlertState:
    """What the timeline says about one incident's unassigned alert so far."""

    created_at: datetime
    priority: int
    level: int = 0  # the last level raised; 0: none yet
    alerted_at: datetime | None = None  # when that level was raised
    acknowledged_at: datetime | None = None  # the last acknowledgement, if any


def next_alert(state: AlertState, thresholds: Mapping[int, float], every_s: float) -> tuple[int, datetime] | None:
    """The next level and when it is due, or None when this priority never alerts."""
    if state.priority not in thresholds:
        return None
    if state.level == 0 or state.alerted_at is None:
        return 1, state.created_at + timedelta(seconds=thresholds[state.priority])
    due = state.alerted_at + timedelta(seconds=every_s)
    if state.acknowledged_at is not None and state.acknowledged_at >= state.alerted_at:
        due = state.acknowledged_at + timedelta(seconds=every_s * SILENCED_INTERVALS)
    return state.level + 1, due


def is_open(state: AlertState) -> bool:
    """An alert was raised and nobody has acknowledged it since."""
    return state.level > 0 and (
        state.acknowledged_at is None or state.alerted_at is None or state.acknowledged_at < state.alerted_at
    )
