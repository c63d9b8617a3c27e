"""The report's arithmetic on arrays (numpy): the same stamps, intervals, findings, nearest-rank
percentiles and compliance as reports.intervals + reports.stats, for a year of incidents at once.

Input (reports.queries.fetch_arrays): the incidents, and one row per incident and per (incident,
unit) with the first stamp of each kind (a unit's last clearance) as integer microseconds since
the epoch, so that no float rounding happens before a subtraction. Output: the same Aggregate and
Finding values the pure-Python path gives (tests/integration/test_reports.py compares them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import numpy.typing as npt

from reports.intervals import (
    INCIDENT_INTERVALS,
    INCIDENT_KINDS,
    STAMP_KINDS,
    UNIT_INTERVALS,
    UNIT_KINDS,
    Finding,
    Interval,
    Level,
    Problem,
)
from reports.stats import PERCENTILES, Aggregate, Compliance, ReportRules, shift_of
from timeline.kinds import EventKind

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LAST_MINUTE = 20  # the same as reports.report.LAST_MINUTE (the last bucket of the distribution)
MISSING = np.iinfo(np.int64).min + 1  # a stamp that was never recorded
ROW_KINDS = STAMP_KINDS

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TimelineArrays:
    incident_id: Ints  # the incidents of the period
    incident_type: list[str]
    district: list[str]
    day: Ints  # local day, days since 1970-01-01
    hour: Ints  # local hour
    row_incident: Ints  # stamp rows: the incident,
    row_unit: Ints  # the unit (0: the incident's own stamps),
    row_stamps: Mapping[str, Ints]  # and its stamps (ROW_KINDS; MISSING when absent)
    units: Mapping[int, tuple[str, str]]  # unit id → (callsign, agency code)


@dataclass(frozen=True)
class _Stamp:
    us: Ints
    present: Bools


def _instant(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _codes(values: npt.NDArray[np.generic]) -> tuple[list[str], Ints]:
    keys, inverse = np.unique(values, return_inverse=True)
    return [str(k) for k in keys.tolist()], inverse.astype(np.int64).reshape(-1)


def _incident_stamps(data: TimelineArrays) -> tuple[Ints, dict[str, _Stamp], Ints, dict[str, _Stamp]]:
    """Per incident (in `data.incident_id` order): its own stamps and the ones derived from its units
    (first notified; the first-arriving unit's — earliest on scene, then lowest unit id —; the last
    clearance of the units that arrived, when all of them cleared). Also the unit rows' incident index."""
    n = len(data.incident_id)
    order = np.argsort(data.incident_id)
    where = order[np.searchsorted(data.incident_id, data.row_incident, sorter=order)]
    own = data.row_unit == 0
    stamps: dict[str, _Stamp] = {}
    for kind in INCIDENT_KINDS:
        us = np.full(n, MISSING, dtype=np.int64)
        us[where[own]] = data.row_stamps[kind][own]
        stamps[kind] = _Stamp(us, us != MISSING)
    unit_rows = np.flatnonzero(~own)
    unit_at = where[unit_rows]
    unit: dict[str, Ints] = {k: data.row_stamps[k][unit_rows] for k in UNIT_KINDS}
    notified = unit[EventKind.UNIT_NOTIFIED]
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    has = notified != MISSING
    np.minimum.at(first, unit_at[has], notified[has])
    stamps["first_notified"] = _Stamp(
        np.where(first == np.iinfo(np.int64).max, MISSING, first), first != np.iinfo(np.int64).max
    )
    arrived = unit[EventKind.UNIT_ON_SCENE] != MISSING
    candidates = np.flatnonzero(arrived)
    ranked = candidates[
        np.lexsort(
            (data.row_unit[unit_rows][candidates], unit[EventKind.UNIT_ON_SCENE][candidates], unit_at[candidates])
        )
    ]
    _, firsts = np.unique(unit_at[ranked], return_index=True)
    chosen = ranked[firsts]
    for name, kind in (
        ("first_arriving_notified", EventKind.UNIT_NOTIFIED),
        ("first_arriving_en_route", EventKind.UNIT_EN_ROUTE),
        ("first_on_scene", EventKind.UNIT_ON_SCENE),
    ):
        us = np.full(n, MISSING, dtype=np.int64)
        us[unit_at[chosen]] = unit[kind][chosen]
        stamps[name] = _Stamp(us, us != MISSING)
    cleared = unit[EventKind.UNIT_CLEARED]
    uncleared = np.zeros(n, dtype=bool)
    np.logical_or.at(uncleared, unit_at[arrived & (cleared == MISSING)], True)
    last = np.full(n, MISSING, dtype=np.int64)
    done = arrived & (cleared != MISSING)
    np.maximum.at(last, unit_at[done], cleared[done])
    any_arrived = np.zeros(n, dtype=bool)
    any_arrived[unit_at[arrived]] = True
    last_present = any_arrived & ~uncleared
    stamps["last_cleared"] = _Stamp(np.where(last_present, last, MISSING), last_present)
    unit_stamps: dict[str, _Stamp] = {k: _Stamp(v, v != MISSING) for k, v in unit.items()}
    return unit_rows, unit_stamps, unit_at, stamps


@dataclass
class _Measured:
    seconds: Floats
    medical: Bools
    rows: Ints  # which input row each measurement came from

    def __post_init__(self) -> None:
        self.by_value: Ints = np.argsort(self.seconds, kind="stable")


def _measure(
    level: Level,
    defs: Sequence[tuple[Interval, str, str]],
    stamps: Mapping[str, _Stamp],
    medical: Bools,
    incident_id: Ints,
    unit_id: Ints | None,
    callsign: Sequence[str] | None,
    findings: list[Finding],
) -> dict[Interval, _Measured]:
    def finding(interval: Interval, problem: Problem, row: int, detail: str) -> Finding:
        return Finding(
            level,
            interval,
            problem,
            int(incident_id[row]),
            "",  # the number is filled in by reports.queries.with_numbers
            int(unit_id[row]) if unit_id is not None else None,
            callsign[row] if callsign is not None else None,
            detail,
        )

    out = {}
    for interval, start_name, end_name in defs:
        start, end = stamps[start_name], stamps[end_name]
        diff = end.us - start.us
        both = end.present & start.present
        for row in np.flatnonzero(end.present & ~start.present).tolist():
            at = _instant(int(end.us[row])).isoformat()
            findings.append(finding(interval, Problem.MISSING, row, f"{end_name} at {at} but no {start_name}"))
        for row in np.flatnonzero(both & (diff < 0)).tolist():
            t0, t1 = _instant(int(start.us[row])), _instant(int(end.us[row]))
            detail = (
                f"{end_name} at {t1.isoformat()} is {(t0 - t1).total_seconds():g} s before "
                f"{start_name} at {t0.isoformat()}"
            )
            findings.append(finding(interval, Problem.OUT_OF_ORDER, row, detail))
        rows = np.flatnonzero(both & (diff >= 0))
        out[interval] = _Measured(diff[rows].astype(np.float64) / 1e6, medical[rows], rows)
    return out


def _grouped(
    dimension: str,
    level: Level,
    interval: Interval,
    measured: _Measured,
    codes: Ints,
    keys: Sequence[str],
    rules: ReportRules,
) -> list[Aggregate]:
    if not len(measured.seconds):
        return []
    by_value = measured.by_value
    narrow = np.int16 if len(keys) < 2**15 else np.int64  # 16-bit codes sort by radix
    order = by_value[np.argsort(codes[by_value].astype(narrow), kind="stable")]  # by group, then by value
    values, groups, medical = measured.seconds[order], codes[order], measured.medical[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(groups)) + 1))
    sizes = np.diff(np.concatenate((starts, [len(groups)])))
    targets = [t for t in rules.targets if t.interval == interval and (t.level is None or t.level == level)]
    counts, mets = [], []
    for t in targets:
        relevant = np.ones(len(values), bool) if t.category is None else medical == (t.category == "medical")
        counts.append(np.add.reduceat(relevant.astype(np.int64), starts).tolist())
        mets.append(np.add.reduceat((relevant & (values <= t.seconds)).astype(np.int64), starts).tolist())
    picks = [starts + (-(-pct * sizes // 100)) - 1 for pct in PERCENTILES]  # nearest rank ⌈p·n/100⌉
    p50, p90, p95 = (values[p].tolist() for p in picks)
    out = []
    for g, (first, n) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True)):
        compliance = tuple(Compliance(t, counts[i][g], mets[i][g]) for i, t in enumerate(targets) if counts[i][g])
        key = keys[int(groups[first])]
        out.append(Aggregate(dimension, key, str(level), str(interval), n, p50[g], p90[g], p95[g], compliance))
    return out


def report_arrays(
    data: TimelineArrays, rules: ReportRules, shifts: Sequence[tuple[int, int]]
) -> tuple[list[Aggregate], list[Finding]]:
    """Aggregates per dimension and the findings (without incident numbers)."""
    medical_types = set(rules.medical_types)
    medical = np.array([t in medical_types for t in data.incident_type], dtype=bool)
    unit_rows, unit_stamps, unit_at, incident_stamps = _incident_stamps(data)
    unit_ids = data.row_unit[unit_rows]
    unit_keys, unit_codes = _codes(unit_ids)
    callsign_of = [data.units[int(u)][0] for u in unit_keys]
    agency_of = [data.units[int(u)][1] for u in unit_keys]
    callsigns = [callsign_of[c] for c in unit_codes.tolist()]
    findings: list[Finding] = []
    per_incident = _measure(
        Level.INCIDENT, INCIDENT_INTERVALS, incident_stamps, medical, data.incident_id, None, None, findings
    )
    per_unit = _measure(
        Level.UNIT,
        UNIT_INTERVALS,
        unit_stamps,
        medical[unit_at],
        data.incident_id[unit_at],
        unit_ids,
        callsigns,
        findings,
    )
    day_keys, day_codes = _codes(data.day)
    days = [date(1970, 1, 1) + timedelta(days=int(d)) for d in day_keys]
    month_labels = sorted({f"{d:%Y-%m}" for d in days})
    month_of_day = np.array([month_labels.index(f"{d:%Y-%m}") for d in days], dtype=np.int64)
    shift_labels = sorted({shift_of(time(h), shifts) for h in range(24)})
    shift_of_hour = np.array([shift_labels.index(shift_of(time(h), shifts)) for h in range(24)], dtype=np.int64)
    agency_labels = sorted(set(agency_of))
    incident_dims: dict[str, tuple[Sequence[str], Ints]] = {
        "all": (["all"], np.zeros(len(data.incident_id), dtype=np.int64)),
        "day": ([f"{d:%Y-%m-%d}" for d in days], day_codes),
        "month": (month_labels, month_of_day[day_codes] if len(days) else day_codes),
        "type": _codes(np.asarray(data.incident_type, dtype=str)),
        "district": _codes(np.asarray(data.district, dtype=str)),
        "shift": (shift_labels, shift_of_hour[data.hour]),
    }
    unit_dims: dict[str, tuple[Sequence[str], Ints]] = {
        "all": (["all"], np.zeros(len(unit_ids), dtype=np.int64)),
        "unit": (callsign_of, unit_codes),
        "agency": (
            agency_labels,
            np.array([agency_labels.index(a) for a in agency_of], dtype=np.int64)[unit_codes]
            if agency_of
            else unit_codes,
        ),
    }
    minute_keys = [str(m) for m in range(LAST_MINUTE + 1)]
    aggregates: list[Aggregate] = []
    for interval, measured in per_incident.items():
        for dimension, (keys, codes) in incident_dims.items():
            aggregates += _grouped(dimension, Level.INCIDENT, interval, measured, codes[measured.rows], keys, rules)
        minutes = np.minimum(measured.seconds // 60, LAST_MINUTE).astype(np.int64)
        aggregates += _grouped("minute", Level.INCIDENT, interval, measured, minutes, minute_keys, rules)
    for interval, measured in per_unit.items():
        for dimension, (keys, codes) in unit_dims.items():
            aggregates += _grouped(dimension, Level.UNIT, interval, measured, codes[measured.rows], keys, rules)
    return aggregates, findings
