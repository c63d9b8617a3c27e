"""What a simulator run did and how fast the centre answered: counts, latencies, their percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Stats:
    """What the run did and how fast the centre answered (seconds)."""

    calls_placed: int = 0
    calls_answered_sip: int = 0  # sipp got its 200 OK and hung up cleanly
    calls_turned_away_sip: int = 0  # every line busy: a 503 or a 302 to the overflow centre, on record as overflowed
    calls_failed_sip: int = 0
    texts_sent: int = 0
    texts_refused: int = 0
    calls_seen: int = 0
    incidents_created: int = 0
    dispatches: int = 0
    fixes_sent: int = 0
    fixes_refused: int = 0
    congestion_reports: int = 0
    errors: int = 0
    visible_s: list[float] = field(default_factory=list)  # INVITE/SMS sent → the call on the event stream
    recommend_s: list[float] = field(default_factory=list)  # incident created → first recommendation
    placed: dict[str, float] = field(default_factory=dict)  # phone → when the call was placed (monotonic)
    our_incidents: list[int] = field(default_factory=list)
    sip_failures: list[str] = field(default_factory=list)  # "phone: what sipp logged", one per failed call

    def summary(self) -> str:
        return (
            f"calls {self.calls_placed} placed ({self.calls_answered_sip} SIP answered, {self.calls_turned_away_sip} "
            f"SIP turned away, {self.calls_failed_sip} SIP failed, {self.texts_sent} SMS), {self.calls_seen} seen by "
            f"the centre; "
            f"{self.incidents_created} incidents, {self.dispatches} dispatched; GPS {self.fixes_sent} fixes "
            f"({self.fixes_refused} refused); {self.congestion_reports} camera reports; {self.errors} errors"
        )


def nearest_rank(sorted_values: Sequence[float], percent: int) -> float:
    """The `percent`-th percentile of ascending values by nearest rank (the value at rank ⌈p·N/100⌉),
    the centre's reports' rule (README "Reports"). The simulator imports nothing of the centre, so
    this is its own copy; tests/unit/test_percentiles.py holds it equal to `reports.stats.nearest_rank`."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < percent <= 100:
        raise ValueError(f"percent out of range: {percent}")
    return sorted_values[-(-percent * len(sorted_values) // 100) - 1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds, nearest-rank; (nan, nan) when there are no samples."""
    if not samples:
        return float("nan"), float("nan")
    ordered = sorted(samples)
    return nearest_rank(ordered, 50) * 1e3, nearest_rank(ordered, 95) * 1e3
