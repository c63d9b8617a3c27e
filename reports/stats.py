"""Percentiles, compliance with targets, shifts and the grouping of intervals (pure).

Percentiles are **nearest-rank**, as NFPA fractile reports use: the p-th percentile of N
values sorted ascending is the value at rank ⌈p × N / 100⌉ (1-based), always one of the
observed values, never interpolated. The median is the 50th percentile by the same rule
(for an even N, the lower of the two middle values). Compliance with a target is the share
of measured intervals at or under the target's seconds, compared to the required fraction.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time

PERCENTILES = (50, 90, 95)


@dataclass(frozen=True)
class Target:
    """`fraction` of `interval`s must take at most `seconds`; `category` ("medical"/"fire") or `level`
    ("incident"/"unit") narrow which intervals it applies to (None: all)."""

    interval: str
    seconds: float
    fraction: float
    category: str | None = None
    level: str | None = None

    @property
    def label(self) -> str:
        which = f" {self.category}" if self.category else ""
        return f"{self.interval}{which} {self.fraction:.0%} ≤ {self.seconds:g} s"


#: NFPA 1221 (answering 90% ≤ 15 s, 95% ≤ 20 s; processing 90% ≤ 64 s) and NFPA 1710
#: (turnout 90% ≤ 60 s medical, 80 s fire; travel of the first unit 90% ≤ 240 s).
DEFAULT_TARGETS: tuple[Target, ...] = (
    Target("answering", 15, 0.90),
    Target("answering", 20, 0.95),
    Target("processing", 64, 0.90),
    Target("turnout", 60, 0.90, category="medical"),
    Target("turnout", 80, 0.90, category="fire"),
    Target("travel", 240, 0.90, level="incident"),
)
DEFAULT_MEDICAL_TYPES = ("medis",)
DEFAULT_SHIFTS = ((7, 15), (15, 23), (23, 7))


class BadReportConfig(ValueError):
    pass


@dataclass(frozen=True)
class Compliance:
    target: Target
    count: int
    met: int

    @property
    def share(self) -> float:
        return self.met / self.count

    @property
    def compliant(self) -> bool:
        return self.met >= self.target.fraction * self.count - 1e-9


@dataclass(frozen=True)
class Aggregate:
    dimension: str
    key: str
    level: str
    interval: str
    count: int
    median_s: float
    p90_s: float
    p95_s: float
    compliance: tuple[Compliance, ...]


@dataclass(frozen=True)
class Row:
    """One measured interval with the group keys it belongs to."""

    level: str
    interval: str
    seconds: float
    category: str
    keys: tuple[tuple[str, str], ...]  # (dimension, key) pairs, e.g. ("district", "Utara")


def nearest_rank(sorted_values: Sequence[float], percent: int) -> float:
    """The `percent`-th percentile (integer percent, 1..100) of ascending values, by nearest rank."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < percent <= 100:
        raise ValueError(f"percent out of range: {percent}")
    rank = -(-percent * len(sorted_values) // 100)  # ⌈p·N/100⌉ in integers: no float rounding
    return sorted_values[rank - 1]


def compliance(
    values: Sequence[tuple[float, str]], level: str, interval: str, targets: Iterable[Target]
) -> tuple[Compliance, ...]:
    """Compliance with each target that applies to any of `values` ((seconds, category) pairs)."""
    out = []
    for target in targets:
        if target.interval != interval or (target.level is not None and target.level != level):
            continue
        relevant = [s for s, c in values if target.category is None or c == target.category]
        if relevant:
            out.append(Compliance(target, len(relevant), sum(1 for s in relevant if s <= target.seconds)))
    return tuple(out)


def aggregate(rows: Iterable[Row], targets: Sequence[Target]) -> list[Aggregate]:
    """Count, median, 90th and 95th percentile and compliance per (dimension, key, level, interval)."""
    groups: dict[tuple[str, str, str, str], list[tuple[float, str]]] = defaultdict(list)
    for row in rows:
        for dimension, key in row.keys:
            groups[(dimension, key, row.level, row.interval)].append((row.seconds, row.category))
    out = []
    for (dimension, key, level, interval), pairs in groups.items():
        values = sorted(s for s, _ in pairs)
        out.append(
            Aggregate(
                dimension,
                key,
                level,
                interval,
                len(values),
                nearest_rank(values, 50),
                nearest_rank(values, 90),
                nearest_rank(values, 95),
                compliance(pairs, level, interval, targets),
            )
        )
    return sorted(out, key=aggregate_order)


def aggregate_order(a: Aggregate) -> tuple[str, str, str, int]:
    from reports.intervals import Interval

    return (a.dimension, a.key, a.level, list(Interval).index(Interval(a.interval)))


# --- shifts ------------------------------------------------------------------


def shift_name(start_h: int, end_h: int) -> str:
    return f"{start_h:02d}-{end_h:02d}"


def shift_of(local: datetime | time, shifts: Sequence[tuple[int, int]] = DEFAULT_SHIFTS) -> str:
    """The shift a local (WITA) wall-clock time falls in; a shift may run over midnight."""
    hour = local.hour
    for start_h, end_h in shifts:
        inside = start_h <= hour < end_h if start_h < end_h else hour >= start_h or hour < end_h
        if inside:
            return shift_name(start_h, end_h)
    return "other"


def parse_shifts(text: str) -> tuple[tuple[int, int], ...]:
    """`07-15,15-23,23-07` → ((7, 15), (15, 23), (23, 7)); the shifts must cover the day once."""
    if not text.strip():
        return DEFAULT_SHIFTS
    shifts = []
    try:
        for part in text.split(","):
            start, end = part.strip().split("-")
            shifts.append((int(start), int(end)))
    except ValueError:
        raise BadReportConfig(f"shifts must look like '07-15,15-23,23-07', not {text!r}") from None
    hours = [shift_of(time(h), shifts) for h in range(24)]
    covered = sum(((end - start) % 24 or 24) for start, end in shifts)
    if "other" in hours or covered != 24 or any(not (0 <= h < 24) for s in shifts for h in s):
        raise BadReportConfig(f"the shifts {text!r} must cover the 24 hours of a day exactly once")
    return tuple(shifts)


# --- targets -------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRules:
    targets: tuple[Target, ...] = DEFAULT_TARGETS
    medical_types: tuple[str, ...] = DEFAULT_MEDICAL_TYPES


def parse_rules(text: str) -> ReportRules:
    """The targets file (JSON): `{"targets": [{"interval": "travel", "seconds": 240, "fraction": 0.9,
    "level": "incident"}, …], "medical_types": ["medis"]}`; either key may be left out."""
    from reports.intervals import Interval, Level

    try:
        raw = json.loads(text)
    except ValueError as error:
        raise BadReportConfig(f"the report targets are not JSON: {error}") from None
    if not isinstance(raw, Mapping):
        raise BadReportConfig("the report targets must be a JSON object")
    targets = DEFAULT_TARGETS
    if "targets" in raw:
        if not isinstance(raw["targets"], list):
            raise BadReportConfig("'targets' must be a list")
        parsed = []
        for i, t in enumerate(raw["targets"]):
            try:
                target = Target(
                    interval=str(Interval(t["interval"])),
                    seconds=float(t["seconds"]),
                    fraction=float(t["fraction"]),
                    category=t.get("category"),
                    level=str(Level(t["level"])) if t.get("level") else None,
                )
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise BadReportConfig(f"target {i}: {error!r}") from None
            if not (0 < target.fraction <= 1 and target.seconds >= 0) or target.category not in (
                None,
                "medical",
                "fire",
            ):
                raise BadReportConfig(f"target {i}: fraction in (0, 1], seconds ≥ 0, category medical/fire")
            parsed.append(target)
        targets = tuple(parsed)
    medical = raw.get("medical_types", list(DEFAULT_MEDICAL_TYPES))
    if not isinstance(medical, list) or not all(isinstance(m, str) for m in medical):
        raise BadReportConfig("'medical_types' must be a list of incident types")
    return ReportRules(targets, tuple(medical))
