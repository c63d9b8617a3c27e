"""One call that makes a report from the database: what the API, the CLI and the scheduler use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from reports import queries
from reports.report import Report, build_report, sql_report
from reports.stats import DEFAULT_SHIFTS, ReportRules, parse_rules, parse_shifts

ENGINES = ("auto", "numpy", "sql", "python")


@dataclass(frozen=True)
class ReportConfig:
    """What a report is measured against: the local time zone, the shifts and the targets."""

    timezone: str = "Asia/Makassar"
    shifts: tuple[tuple[int, int], ...] = DEFAULT_SHIFTS
    rules: ReportRules = field(default_factory=ReportRules)

    @classmethod
    def load(cls, timezone: str, shifts: str, targets_path: str) -> ReportConfig:
        """From the settings: WARROOM_TZ, WARROOM_REPORT_SHIFTS, WARROOM_REPORT_TARGETS (a JSON file)."""
        rules = parse_rules(Path(targets_path).read_text()) if targets_path else ReportRules()
        return cls(timezone, parse_shifts(shifts), rules)


def response_times(
    conn: Connection,
    start: datetime,
    end: datetime,
    config: ReportConfig,
    *,
    now: datetime,
    engine: str = "auto",
    detail: bool = False,
) -> Report:
    """The report of incidents created in [start, end). `engine`: where the aggregation runs; "auto" is
    the database on PostgreSQL (faster there, see bench/reports.py) and Python otherwise. `detail`
    adds the per-incident and per-unit intervals (always computed in Python)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}")
    if engine == "auto":
        engine = "numpy" if conn.dialect.name == "postgresql" else "python"
    if detail:
        engine = "python"
    if engine == "numpy":
        from reports.fast import report_arrays

        data = queries.fetch_arrays(conn, start, end, config.timezone)
        aggregates, findings = report_arrays(data, config.rules, config.shifts)
        findings = queries.with_numbers(conn, findings)
        made = sql_report(
            aggregates,
            findings,
            len(data.incident_id),
            start=start,
            end=end,
            tz=config.timezone,
            generated_at=now,
            rules=config.rules,
            shifts=config.shifts,
        )
        return replace(made, engine="numpy")
    if engine == "sql":
        aggregates, findings = queries.aggregate_in_sql(
            conn, start, end, tz=config.timezone, shifts=config.shifts, rules=config.rules
        )
        incidents = incident_count(conn, start, end)
        return sql_report(
            aggregates,
            findings,
            incidents,
            start=start,
            end=end,
            tz=config.timezone,
            generated_at=now,
            rules=config.rules,
            shifts=config.shifts,
        )
    stamps = queries.fetch_stamps(conn, start, end)
    return build_report(
        stamps,
        start=start,
        end=end,
        tz=config.timezone,
        generated_at=now,
        rules=config.rules,
        shifts=config.shifts,
        detail=detail,
    )


def incident_count(conn: Connection, start: datetime, end: datetime) -> int:
    table = queries.INCIDENTS
    count = conn.scalar(
        sa.select(sa.func.count()).select_from(table).where(table.c.created_at >= start, table.c.created_at < end)
    )
    return int(count or 0)


def shifts_text(shifts: Sequence[tuple[int, int]]) -> str:
    return ",".join(f"{a:02d}-{b:02d}" for a, b in shifts)
