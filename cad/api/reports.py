"""Response-time reports (JSON, CSV, PDF) and the archive of scheduled PDFs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from flask import Response, current_app, send_file, url_for
from pydantic import BaseModel, Field

from cad import clock
from cad.api import api
from cad.api.schemas import Query
from cad.api.spec import operation
from cad.blocking import off_the_loop
from cad.config import Settings
from cad.db import db
from cad.errors import ApiError, InvalidInput, NotFound
from cad.models import Role, User
from cad.web.i18n import current_language
from reports.archive import archived_file, list_archive
from reports.generate import ReportConfig, response_times
from reports.render import report_csv, report_pdf
from reports.report import report_dict
from reports.stats import BadReportConfig

READERS = (Role.MANAGER, Role.ADMIN, Role.DISPATCHER)
MAX_RANGE = timedelta(days=732)
_DAY = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")


class ReportQuery(Query):
    from_: str = Field(
        alias="from",
        description="start (inclusive): an ISO 8601 time with its offset, or a day YYYY-MM-DD (local midnight)",
    )
    to: str = Field(description="end (exclusive), as `from`")
    format: Literal["json", "csv", "pdf"] = "json"
    table: Literal["aggregates", "findings", "measurements"] = Field(
        default="aggregates", description="CSV only: which table"
    )
    detail: bool = Field(default=False, description="JSON: add every incident's and unit's intervals")
    engine: Literal["auto", "numpy", "sql", "python"] = Field(
        default="auto",
        description="where the aggregation runs: numpy or sql need PostgreSQL; auto is numpy there, python on SQLite",
    )
    lang: Literal["id", "en"] | None = Field(
        default=None,
        description="PDF and CSV: the language of the headings; default the reader's language (Indonesian)",
    )


class ArchivedReportOut(BaseModel):
    period: str
    kind: Literal["weekly", "monthly"]
    generated_at: datetime
    size: int
    url: str


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
    """The targets and shifts of the settings; a broken targets file is the centre's fault (500), named."""
    try:
        return ReportConfig.load(settings.timezone, settings.report_shifts, settings.report_targets)
    except (BadReportConfig, OSError) as error:
        raise ApiError(
            f"WARROOM_REPORT_TARGETS/WARROOM_REPORT_SHIFTS: {error}", None, code="misconfigured", status=500
        ) from None


@operation(
    api,
    "/reports/response-times",
    "GET",
    summary="Response-time report (NFPA 1710/1221, NENA intervals): JSON, CSV or PDF",
    roles=READERS,
    query=ReportQuery,
)
def response_time_report(user: User, query: ReportQuery) -> Any:
    settings = current_app.config["WARROOM"]
    start, end = report_window(query.from_, query.to, settings.timezone)
    if query.engine in ("sql", "numpy") and db.engine.dialect.name != "postgresql":
        raise InvalidInput(f"engine: '{query.engine}' needs PostgreSQL; use auto or python", "engine")
    detail = query.detail or (query.format == "csv" and query.table == "measurements")
    with db.engine.connect() as conn:
        report = response_times(
            conn, start, end, report_config(settings), now=clock.now(), engine=query.engine, detail=detail
        )
    stem = f"response-times-{start:%Y%m%dT%H%MZ}-{end:%Y%m%dT%H%MZ}"
    lang = query.lang or current_language()
    if query.format == "csv":
        return Response(
            report_csv(report, query.table, lang),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{stem}-{query.table}.csv"'},
        )
    if query.format == "pdf":
        return Response(
            off_the_loop(report_pdf, report, lang),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{stem}.pdf"'},
        )
    return report_dict(report)


@operation(
    api,
    "/reports/archive",
    "GET",
    summary="The weekly and monthly PDF reports the scheduler archived, newest first",
    roles=READERS,
    response=list[ArchivedReportOut],
)
def report_archive(user: User) -> list[dict[str, Any]]:
    folder = current_app.config["WARROOM"].report_archive_path
    return [
        {
            "period": r.period,
            "kind": str(r.kind),
            "generated_at": r.generated_at,
            "size": r.size,
            "url": url_for("api.archived_report", filename=r.filename),
        }
        for r in list_archive(folder)
    ]


@operation(
    api,
    "/reports/archive/<filename>",
    "GET",
    summary="One archived PDF report",
    roles=READERS,
    errors=(404,),
)
def archived_report(user: User, filename: str) -> Response:
    path = archived_file(current_app.config["WARROOM"].report_archive_path, filename)
    if path is None:
        raise NotFound(f"no archived report {filename[:80]!r}", "filename")
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=path.name)
