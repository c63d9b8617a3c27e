"""The response-time report: what it holds, how it is assembled from stamps (pure), and its JSON shape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from reports.intervals import (
    INTERVAL_LABELS,
    UNIT_INTERVALS,
    Finding,
    IncidentStamps,
    Interval,
    Level,
    measure,
)
from reports.stats import DEFAULT_SHIFTS, Aggregate, ReportRules, Row, aggregate, aggregate_order, shift_of

#: The dimensions aggregates are grouped by, per level ("all" is the whole period).
INCIDENT_DIMENSIONS = ("all", "day", "month", "type", "district", "shift", "minute")
#: "minute" is the distribution: whole minutes of each interval, the last bucket holding everything longer.
LAST_MINUTE = 20
UNIT_DIMENSIONS = ("all", "unit", "agency")
NO_DISTRICT = "(none)"
DEFAULT_RULES = ReportRules()


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    timezone: str
    generated_at: datetime
    rules: ReportRules
    shifts: tuple[tuple[int, int], ...]
    aggregates: list[Aggregate]
    findings: list[Finding]
    engine: str  # "python" or "sql": where the aggregation ran
    incidents: int
    measurements: list[dict[str, Any]] = field(default_factory=list)  # per incident/unit, when asked for

    def select(self, dimension: str, level: str = "incident") -> list[Aggregate]:
        return [a for a in self.aggregates if a.dimension == dimension and a.level == level]

    def overall(self, interval: Interval, level: str = "incident") -> Aggregate | None:
        return next((a for a in self.select("all", level) if a.interval == interval), None)


def finding_order(f: Finding) -> tuple[int, int, int, int]:
    return (f.incident_id, 0 if f.level is Level.INCIDENT else 1, f.unit_id or 0, list(Interval).index(f.interval))


def build_report(
    stamps: Sequence[IncidentStamps],
    *,
    start: datetime,
    end: datetime,
    tz: str,
    generated_at: datetime,
    rules: ReportRules = DEFAULT_RULES,
    shifts: Sequence[tuple[int, int]] = DEFAULT_SHIFTS,
    detail: bool = False,
) -> Report:
    """The report of these incidents with the aggregation done here, in Python."""
    zone = ZoneInfo(tz)
    measured = measure(stamps, rules.medical_types)
    by_id = {s.incident_id: s for s in stamps}
    keys: dict[int, tuple[tuple[str, str], ...]] = {}
    for s in stamps:
        local = s.created_at.astimezone(zone)
        keys[s.incident_id] = (
            ("all", "all"),
            ("day", local.strftime("%Y-%m-%d")),
            ("month", local.strftime("%Y-%m")),
            ("type", s.type),
            ("district", s.district or NO_DISTRICT),
            ("shift", shift_of(local, shifts)),
        )
    units = {(s.incident_id, u.unit_id): u for s in stamps for u in s.units}
    rows: list[Row] = []
    for m in measured.measurements:
        if m.level is Level.INCIDENT:
            row_keys = (*keys[m.incident_id], ("minute", str(min(int(m.seconds // 60), LAST_MINUTE))))
        else:
            unit = units[(m.incident_id, m.unit_id or 0)]
            row_keys = (("all", "all"), ("unit", unit.callsign), ("agency", unit.agency))
        rows.append(Row(str(m.level), str(m.interval), m.seconds, m.category, row_keys))
    details = []
    if detail:
        details = incident_details(stamps, measured.measurements)
    return Report(
        start=start,
        end=end,
        timezone=tz,
        generated_at=generated_at,
        rules=rules,
        shifts=tuple(shifts),
        aggregates=aggregate(rows, rules.targets),
        findings=sorted(measured.findings, key=finding_order),
        engine="python",
        incidents=len(by_id),
        measurements=details,
    )


def incident_details(stamps: Sequence[IncidentStamps], measurements: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per incident and per responding unit with each interval in seconds (None: not measured)."""
    values: dict[tuple[int, int | None], dict[str, float]] = {}
    for m in measurements:
        values.setdefault((m.incident_id, m.unit_id), {})[str(m.interval)] = m.seconds
    out: list[dict[str, Any]] = []
    for s in stamps:
        base = {"incident_id": s.incident_id, "number": s.number, "type": s.type, "district": s.district}
        mine = values.get((s.incident_id, None), {})
        out.append(
            {**base, "level": "incident", "unit": None, "agency": None} | {str(i): mine.get(str(i)) for i in Interval}
        )
        for u in s.units:
            got = values.get((s.incident_id, u.unit_id), {})
            unit_cols = {str(i): got.get(str(i)) for i, _, _ in UNIT_INTERVALS}
            out.append(
                {**base, "level": "unit", "unit": u.callsign, "agency": u.agency}
                | {str(i): None for i in Interval}
                | unit_cols
            )
    return out


def sql_report(
    aggregates: list[Aggregate],
    findings: list[Finding],
    incidents: int,
    *,
    start: datetime,
    end: datetime,
    tz: str,
    generated_at: datetime,
    rules: ReportRules,
    shifts: Sequence[tuple[int, int]],
) -> Report:
    """The report whose aggregates the database computed (reports.queries.aggregate_in_sql)."""
    return Report(
        start=start,
        end=end,
        timezone=tz,
        generated_at=generated_at,
        rules=rules,
        shifts=tuple(shifts),
        aggregates=sorted(aggregates, key=aggregate_order),
        findings=sorted(findings, key=finding_order),
        engine="sql",
        incidents=incidents,
    )


def _seconds(value: float) -> float:
    return round(value, 3)


def aggregate_dict(a: Aggregate) -> dict[str, Any]:
    return {
        "dimension": a.dimension,
        "key": a.key,
        "level": a.level,
        "interval": a.interval,
        "count": a.count,
        "median_s": _seconds(a.median_s),
        "p90_s": _seconds(a.p90_s),
        "p95_s": _seconds(a.p95_s),
        "compliance": [
            {
                "target": c.target.label,
                "seconds": c.target.seconds,
                "required": c.target.fraction,
                "category": c.target.category,
                "count": c.count,
                "met": c.met,
                "share": round(c.share, 4),
                "compliant": c.compliant,
            }
            for c in a.compliance
        ],
    }


def finding_dict(f: Finding) -> dict[str, Any]:
    return {
        "level": str(f.level),
        "interval": str(f.interval),
        "problem": str(f.problem),
        "incident_id": f.incident_id,
        "number": f.number,
        "unit_id": f.unit_id,
        "callsign": f.callsign,
        "detail": f.detail,
    }


def report_dict(report: Report) -> dict[str, Any]:
    """The JSON document of the API and `warroom report --format json`."""
    counts: dict[str, int] = {}
    for f in report.findings:
        name = f"{f.level}.{f.interval}.{f.problem}"
        counts[name] = counts.get(name, 0) + 1
    out: dict[str, Any] = {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "timezone": report.timezone,
        "generated_at": report.generated_at.isoformat(),
        "engine": report.engine,
        "incidents": report.incidents,
        "percentile_method": "nearest-rank: the value at rank ceil(p*N/100) of the N sorted values",
        "intervals": {str(i): label for i, label in INTERVAL_LABELS.items()},
        "targets": [
            {
                "interval": t.interval,
                "seconds": t.seconds,
                "fraction": t.fraction,
                "category": t.category,
                "level": t.level,
            }
            for t in report.rules.targets
        ],
        "medical_types": list(report.rules.medical_types),
        "shifts": [f"{a:02d}-{b:02d}" for a, b in report.shifts],
        "aggregates": [aggregate_dict(a) for a in report.aggregates],
        "findings_by_kind": dict(sorted(counts.items())),
        "findings": [finding_dict(f) for f in report.findings],
    }
    if report.measurements:
        out["measurements"] = report.measurements
    return out
