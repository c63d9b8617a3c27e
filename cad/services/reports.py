"""Use cases of the response-time report: the window a reader asked for, the centre's targets and
shifts, the report itself, and the scheduled archive. The API, the manager's page, `warroom report`
and the scheduler all come here; none of it knows Flask."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from cad.config import Settings
from cad.domain.errors import InvalidInput, Misconfigured
from reports.archive import PeriodKind, archive_report
from reports.generate import ReportConfig, response_times
from reports.report import Report
from reports.stats import BadReportConfig

#: The longest window one report covers.
MAX_RANGE = timedelta(days=732)
_DAY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")


def parse_instant(raw: str, field: str, tz: str) -> datetime:
    """An aware UTC instant from `2026-11-01T08:00:00+08:00` / `…Z`, or a local day `2026-11-01`."""
    text = raw.strip()
    try:
        if _DAY.match(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field}: not an ISO 8601 time or day: {raw[:40]!r}", field) from None
    if value.tzinfo is None:
        raise InvalidInput(f"{field}: give the time's offset (e.g. +08:00 or Z), or a day YYYY-MM-DD", field)
    return value.astimezone(UTC)


def report_window(start_raw: str, end_raw: str, tz: str) -> tuple[datetime, datetime]:
    start, end = parse_instant(start_raw, "from", tz), parse_instant(end_raw, "to", tz)
    if end <= start:
        raise InvalidInput("to: must be after from", "to")
    if end - start > MAX_RANGE:
        raise InvalidInput(f"to: a report covers at most {MAX_RANGE.days} days", "to")
    return start, end


def report_config(settings: Settings) -> ReportConfig:
    """The targets and shifts of the settings; a broken targets file is the centre's fault, named."""
    try:
        return ReportConfig.load(settings.timezone, settings.report_shifts, settings.report_targets)
    except (BadReportConfig, OSError) as error:
        raise Misconfigured(f"WARROOM_REPORT_TARGETS/WARROOM_REPORT_SHIFTS: {error}") from None


def response_time_report(
    engine: Engine,
    window: tuple[datetime, datetime],
    settings: Settings,
    now: datetime,
    *,
    engine_name: str = "auto",
    detail: bool = False,
) -> Report:
    """The report over `window` (read on its own connection: reports read, never write)."""
    if engine_name in ("sql", "numpy") and engine.dialect.name != "postgresql":
        raise InvalidInput(f"engine: '{engine_name}' needs PostgreSQL; use auto or python", "engine")
    config = report_config(settings)
    with engine.connect() as conn:
        return response_times(conn, *window, config, now=now, engine=engine_name, detail=detail)


def archive_period(engine: Engine, kind: PeriodKind, settings: Settings, now: datetime) -> Path | None:
    """The scheduled job's use case: archive the last complete week or month's PDF unless it is
    there already (None then, or when another scheduler is archiving it)."""
    return archive_report(engine, kind, now, report_config(settings), settings.report_archive_path)
