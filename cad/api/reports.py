"""Response-time reports (JSON, CSV, PDF) and the archive of scheduled PDFs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import Response, current_app, send_file, url_for
from pydantic import BaseModel, Field

from cad import clock
from cad.api import api
from cad.api.schemas import Query
from cad.api.spec import operation
from cad.blocking import off_the_loop
from cad.db import db
from cad.domain.actors import Person
from cad.errors import NotFound
from cad.models import Role
from cad.services import reports as reporting
from cad.web.i18n import current_language
from reports.archive import archived_file, list_archive
from reports.render import report_csv, report_pdf
from reports.report import report_dict

READERS = (Role.MANAGER, Role.ADMIN, Role.DISPATCHER)


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


@operation(
    api,
    "/reports/response-times",
    "GET",
    summary="Response-time report (NFPA 1710/1221, NENA intervals): JSON, CSV or PDF",
    roles=READERS,
    query=ReportQuery,
)
def response_time_report(user: Person, query: ReportQuery) -> Any:
    settings = current_app.config["WARROOM"]
    start, end = reporting.report_window(query.from_, query.to, settings.timezone)
    detail = query.detail or (query.format == "csv" and query.table == "measurements")
    report = reporting.response_time_report(
        db.engine, (start, end), settings, clock.now(), engine_name=query.engine, detail=detail
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
def report_archive(user: Person) -> list[dict[str, Any]]:
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
def archived_report(user: Person, filename: str) -> Response:
    path = archived_file(current_app.config["WARROOM"].report_archive_path, filename)
    if path is None:
        raise NotFound(f"no archived report {filename[:80]!r}", "filename")
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=path.name)
