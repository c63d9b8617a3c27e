"""Response-time reports through the API, the CLI and the scheduler, on SQLite and PostgreSQL:
hand-built timelines whose figures were worked out by hand, real PDFs read back with poppler."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import factories as f
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from report_city import T0, URL, build_city
from requirements import need_tool, needs_poppler

from cad import clock
from cad.db import db
from cad.models import Incident, Role


def _overall(doc: dict, interval: str, level: str = "incident") -> dict:
    return next(
        a for a in doc["aggregates"] if a["dimension"] == "all" and a["interval"] == interval and a["level"] == level
    )


def test_the_json_report_matches_the_figures_worked_by_hand(client: FlaskClient, backend: str) -> None:
    build_city()
    _, headers = f.user(Role.MANAGER)
    response = client.get(URL, query_string={"from": "2026-11-02", "to": "2026-11-04"}, headers=headers)
    assert response.status_code == 200, response.get_json()
    doc = response.get_json()
    assert doc["incidents"] == 3 and doc["engine"] == ("numpy" if backend == "postgresql" else "python")
    answering = _overall(doc, "answering")
    assert (answering["count"], answering["median_s"], answering["p90_s"]) == (2, 10, 25)  # 10 s and 25 s
    assert [(c["seconds"], c["met"], c["count"], c["compliant"]) for c in answering["compliance"]] == [
        (15, 1, 2, False),
        (20, 1, 2, False),
    ]
    travel = _overall(doc, "travel")
    assert (travel["count"], travel["median_s"], travel["p90_s"], travel["p95_s"]) == (2, 200, 280, 280)
    response_time = _overall(doc, "response")
    assert (response_time["count"], response_time["median_s"], response_time["p90_s"]) == (2, 375, 400)
    turnout = _overall(doc, "turnout", "unit")
    assert (turnout["count"], turnout["median_s"], turnout["p90_s"]) == (4, 50, 140)  # 25, 50, 90, 140
    assert {(c["category"], c["met"], c["count"]) for c in turnout["compliance"]} == {("medical", 2, 2), ("fire", 0, 2)}
    shifts = {
        a["key"]: a["count"] for a in doc["aggregates"] if a["dimension"] == "shift" and a["interval"] == "answering"
    }
    assert shifts == {"07-15": 1, "15-23": 1}
    assert doc["findings_by_kind"] == {
        "incident.processing.missing": 1,
        "incident.response.missing": 1,
        "incident.travel.out_of_order": 1,
        "unit.travel.out_of_order": 1,
    }
    assert {x["number"] for x in doc["findings"]} == {"MKS-3"}


@pytest.mark.postgres
def test_aggregation_in_sql_and_numpy_gives_exactly_the_python_report(client: FlaskClient, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("aggregation in SQL and the array fetch are PostgreSQL's")
    build_city()
    _, headers = f.user(Role.ADMIN)
    window = {"from": "2026-11-01T00:00:00+08:00", "to": "2026-11-10T00:00:00+08:00"}
    docs = {
        engine: client.get(URL, query_string={**window, "engine": engine}, headers=headers).get_json()
        for engine in ("sql", "numpy", "python")
    }
    for engine, doc in docs.items():
        assert doc.pop("engine") == engine and doc.pop("incidents") == 4
        doc.pop("generated_at")
    assert docs["sql"] == docs["python"]
    assert docs["numpy"] == docs["python"]
    assert len(docs["python"]["findings"]) == 4


def test_csv_tables(client: FlaskClient) -> None:
    ids = build_city()
    _, headers = f.user(Role.DISPATCHER)
    window = {"from": "2026-11-02", "to": "2026-11-04", "format": "csv", "lang": "en"}
    aggregates = client.get(URL, query_string=window, headers=headers)
    assert aggregates.status_code == 200 and aggregates.mimetype == "text/csv"
    lines = aggregates.get_data(as_text=True).splitlines()
    assert lines[0].startswith("dimension,key,level,interval,count,median_s,p90_s,p95_s,answering 90% ≤ 15 s share")
    assert any(line.startswith("all,all,incident,travel,2,200.0,280.0,280.0,") for line in lines)
    rows = client.get(URL, query_string={**window, "table": "measurements"}, headers=headers).get_data(as_text=True)
    assert f"{ids['medical']},MKS-1,medis,Utara,incident,,,10.0,60.0,50.0,280.0,400.0,1100.0,1600.0" in rows
    findings = client.get(URL, query_string={**window, "table": "findings"}, headers=headers).get_data(as_text=True)
    assert findings.count("MKS-3") == 4


@needs_poppler
def test_the_pdf_renders_and_says_what_the_json_says(client: FlaskClient, tmp_path: Path) -> None:
    build_city()
    _, headers = f.user(Role.MANAGER)
    response = client.get(
        URL, query_string={"from": "2026-11-02", "to": "2026-11-04", "format": "pdf", "lang": "en"}, headers=headers
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(response.data)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Response times" in text and "3 incidents" in text
    assert "Travel (en route → on scene)" in text
    assert "50.0% within 15 s — misses the 90% target" in text
    assert "By district" in text and "Utara" in text and "By unit" in text and "AMB-2" in text
    assert "MKS-3" in text and "out_of_order" in text
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(p.stat().st_size > 1000 for p in pages)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"to": "2026-11-03"}, "from"),
        ({"from": "yesterday", "to": "2026-11-03"}, "from"),
        ({"from": "2026-11-02T08:00:00", "to": "2026-11-03"}, "from"),  # no offset: ambiguous
        ({"from": "2026-11-02", "to": "2026-11-01"}, "to"),
        ({"from": "2026-11-02", "to": "2026-13-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-11-01"}, "to"),
        ({"from": "2026-11-02", "to": "2026-11-03", "format": "xml"}, "format"),
        ({"from": "2026-11-02", "to": "2026-11-03", "engine": "excel"}, "engine"),
        ({"from": "2026-11-02", "to": "2026-11-03", "format": "csv", "table": "../etc"}, "table"),
        ({"from": "2026-11-02\x00", "to": "2026-11-03"}, "from"),
    ],
)
def test_bad_report_queries_are_400_naming_the_field(client: FlaskClient, query: dict, field: str) -> None:
    _, headers = f.user(Role.MANAGER)
    response = client.get(URL, query_string=query, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"]["field"] == field


def test_only_staff_who_read_reports_get_them(client: FlaskClient) -> None:
    _, crew = f.user(Role.CREW)
    query = {"from": "2026-11-02", "to": "2026-11-03"}
    assert client.get(URL, query_string=query).status_code == 401
    assert client.get(URL, query_string=query, headers=crew).status_code == 403
    assert client.get("/api/v1/reports/archive", headers=crew).status_code == 403


def test_the_weekly_job_archives_once_and_the_archive_serves_it(app: Flask, client: FlaskClient) -> None:
    import cad.scheduler

    build_city()
    _, headers = f.user(Role.MANAGER)
    assert client.get("/api/v1/reports/archive", headers=headers).get_json() == []
    clock.set_clock(lambda: datetime(2026, 11, 9, 1, 0, tzinfo=UTC))  # Monday 9 Nov 09:00 WITA
    cad.scheduler._app = app
    try:
        cad.scheduler.report_job("weekly")
        folder = app.config["WARROOM"].report_archive_path
        written = folder / "weekly-2026-11-02.pdf"
        assert written.read_bytes().startswith(b"%PDF")
        before = written.stat().st_mtime_ns
        cad.scheduler.report_job("weekly")  # idempotent: the period is archived already
        assert written.stat().st_mtime_ns == before
        cad.scheduler.report_job("monthly")  # October: no incidents, still a report
        assert (folder / "monthly-2026-10.pdf").exists()
    finally:
        cad.scheduler._app = None
    (folder / "notes.txt").write_text("not a report")
    listed = client.get("/api/v1/reports/archive", headers=headers).get_json()
    assert [(r["kind"], r["period"]) for r in listed] == [("weekly", "2026-11-02"), ("monthly", "2026-10")]
    with client.get(listed[0]["url"], headers=headers) as download:
        assert download.status_code == 200 and download.data == written.read_bytes()
    for hostile in ("notes.txt", "..%2f..%2fwarroom.sqlite", "weekly-2026-11-02.pdf%00", "weekly-..%2f..pdf"):
        response = client.get(f"/api/v1/reports/archive/{hostile}", headers=headers)
        assert response.status_code == 404, hostile


def test_a_period_another_scheduler_is_archiving_is_left_to_it(app: Flask) -> None:
    from cad.services.reports import report_config
    from reports.archive import PeriodKind, archive_report, archiving_alone

    settings = app.config["WARROOM"]
    folder, now = settings.report_archive_path, datetime(2026, 11, 9, 1, 0, tzinfo=UTC)
    target = folder / "weekly-2026-11-02.pdf"
    with archiving_alone(db.engine, target) as first:  # the other scheduler, at work on it
        assert first
        assert archive_report(db.engine, PeriodKind.WEEKLY, now, report_config(settings), folder) is None
        assert not target.exists()
    assert archive_report(db.engine, PeriodKind.WEEKLY, now, report_config(settings), folder) == target


def test_the_scheduler_registers_the_report_jobs_in_local_time() -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from cad.scheduler import add_report_jobs

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        add_report_jobs(scheduler, "Asia/Makassar")
        add_report_jobs(scheduler, "Asia/Makassar")  # a restarted scheduler replaces, never duplicates
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"report-weekly", "report-monthly"}
        now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        weekly = jobs["report-weekly"].trigger.get_next_fire_time(None, now)
        monthly = jobs["report-monthly"].trigger.get_next_fire_time(None, now)
        assert weekly.astimezone(UTC) == datetime(2026, 11, 29, 16, 30, tzinfo=UTC)  # Mon 30 Nov 00:30 WITA
        assert monthly.astimezone(UTC) == datetime(2026, 11, 30, 16, 45, tzinfo=UTC)  # 1 Dec 00:45 WITA
        assert jobs["report-weekly"].args == ("weekly",)
    finally:
        scheduler.shutdown(wait=False)


def test_a_report_job_due_when_the_scheduler_restarts_keeps_its_run() -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    from cad.scheduler import add_report_jobs

    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        add_report_jobs(scheduler, "Asia/Makassar")
        due = datetime(2026, 11, 29, 16, 30, tzinfo=UTC)  # Monday 00:30 WITA, passed while no scheduler ran
        scheduler.modify_job("report-weekly", next_run_time=due)
        add_report_jobs(scheduler, "Asia/Makassar")  # the next scheduler to take the lease
        assert scheduler.get_job("report-weekly").next_run_time == due
        add_report_jobs(scheduler, "Asia/Jakarta")  # another time zone: other times
        assert scheduler.get_job("report-weekly").next_run_time != due
    finally:
        scheduler.shutdown(wait=False)


def test_warroom_report_writes_the_same_report(
    app: Flask, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cad.cli import main

    build_city()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WARROOM_INSTANCE", str(tmp_path))
    monkeypatch.setenv("WARROOM_ROADS", "")
    runner = CliRunner()
    out = tmp_path / "report.json"
    done = runner.invoke(
        main, ["report", "--from", "2026-11-02", "--to", "2026-11-04", "--format", "json", "--output", str(out)]
    )
    assert done.exit_code == 0, done.output
    import json

    doc = json.loads(out.read_text())
    assert doc["incidents"] == 3 and _overall(doc, "travel")["p90_s"] == 280
    csv_out = runner.invoke(main, ["report", "--from", "2026-11-02", "--to", "2026-11-04", "--format", "csv"])
    assert csv_out.exit_code == 0 and "all,all,incident,travel,2,200.0,280.0" in csv_out.output
    bad = runner.invoke(main, ["report", "--from", "soon", "--to", "2026-11-03"])
    assert bad.exit_code != 0 and "from" in bad.output
    pdftotext = need_tool("pdftotext")
    pdf = tmp_path / "r.pdf"
    assert (
        runner.invoke(
            main, ["report", "--from", "2026-11-02", "--to", "2026-11-04", "--lang", "en", "--output", str(pdf)]
        ).exit_code
        == 0
    )
    assert "Response times" in subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True).stdout
    assert os.environ["DATABASE_URL"] == database_url


def test_a_real_incident_through_the_services_is_measured(client: FlaskClient) -> None:
    """The stamps the services really write (call, answer, incident, assignment, notification,
    status moves, close) give the intervals, with nothing hand-inserted."""
    _, taker = f.user(Role.CALL_TAKER)
    _, dispatcher = f.user(Role.DISPATCHER)
    _, manager = f.user(Role.MANAGER)
    unit = f.unit("DMK-01")
    _, crew = f.user(Role.CREW, unit=unit)
    now = [T0]
    clock.set_clock(lambda: now[0])

    def step(seconds: float) -> None:
        now[0] = now[0] + timedelta(seconds=seconds)

    call = client.post("/api/v1/calls", json={"phone": "081234567890"}, headers=taker).get_json()
    step(12)
    assert client.post(f"/api/v1/calls/{call['id']}/answer", headers=taker).status_code == 200
    step(40)
    incident = client.post("/api/v1/incidents", json={**f.INCIDENT, "call_id": call["id"]}, headers=taker).get_json()
    step(10)
    assert (
        client.post(
            f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=dispatcher
        ).status_code
        == 201
    )
    for seconds, status in ((45, "en_route"), (200, "on_scene"), (600, "available")):
        step(seconds)
        assert client.post(f"/api/v1/units/{unit.id}/status", json={"status": status}, headers=crew).status_code == 200
    step(30)
    assert (
        client.post(
            f"/api/v1/incidents/{incident['id']}/status",
            json={"status": "closed", "disposition": "selesai_ditangani"},
            headers=dispatcher,
        ).status_code
        == 200
    )
    doc = client.get(
        URL, query_string={"from": "2026-11-02", "to": "2026-11-03", "detail": "true"}, headers=manager
    ).get_json()
    (row,) = [m for m in doc["measurements"] if m["level"] == "incident"]
    assert row["answering"] == 12 and row["processing"] == 50  # answered at 12, notified at 62 (with the assignment)
    assert (row["turnout"], row["travel"], row["response"], row["on_scene"], row["to_close"]) == (
        45,
        200,
        307,
        600,
        937,
    )
    assert doc["findings"] == []


def test_an_incident_without_a_district_takes_the_nearest_cameras(client: FlaskClient) -> None:
    from cad.models import Camera

    db.session.add_all(
        [
            Camera(code="CAM-1", name="near", lat=-1.2660, lon=116.8410, district="Klandasan Ulu"),
            Camera(code="CAM-2", name="farther", lat=-1.2800, lon=116.8500, district="Prapatan"),
            Camera(code="CAM-3", name="nearest, no district", lat=-1.2650, lon=116.8400),
        ]
    )
    db.session.commit()
    _, taker = f.user(Role.CALL_TAKER)
    plain = {k: v for k, v in f.INCIDENT.items() if k != "district"}
    made = client.post("/api/v1/incidents", json=plain, headers=taker).get_json()
    assert db.session.get(Incident, made["id"]).district == "Klandasan Ulu"
    named = client.post("/api/v1/incidents", json=f.INCIDENT, headers=taker).get_json()
    assert db.session.get(Incident, named["id"]).district == "Klandasan Ilir"  # what the call-taker said wins
    far = client.post("/api/v1/incidents", json={**plain, "location": {"lat": -1.0, "lon": 116.5}}, headers=taker)
    assert db.session.get(Incident, far.get_json()["id"]).district is None  # no camera within 5 km


def test_targets_and_shifts_come_from_the_settings(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    from dataclasses import replace

    build_city()
    _, headers = f.user(Role.MANAGER)
    targets = tmp_path / "targets.json"
    targets.write_text('{"targets": [{"interval": "travel", "seconds": 300, "fraction": 0.5}], "medical_types": []}')
    settings = app.config["WARROOM"]
    app.config["WARROOM"] = replace(settings, report_targets=str(targets), report_shifts="06-18,18-06")
    doc = client.get(URL, query_string={"from": "2026-11-02", "to": "2026-11-04"}, headers=headers).get_json()
    travel = _overall(doc, "travel")
    assert [(c["seconds"], c["met"], c["count"], c["compliant"]) for c in travel["compliance"]] == [(300, 2, 2, True)]
    assert _overall(doc, "answering")["compliance"] == []  # no answering target configured
    shifts = {
        a["key"]: a["count"] for a in doc["aggregates"] if a["dimension"] == "shift" and a["interval"] == "turnout"
    }
    assert shifts == {"06-18": 2, "18-06": 1}  # 08:00 and 16:00 WITA by day, 00:00 by night
    targets.write_text("{not json")
    broken = client.get(URL, query_string={"from": "2026-11-02", "to": "2026-11-04"}, headers=headers)
    assert broken.status_code == 500 and broken.get_json()["error"]["code"] == "misconfigured"
    assert "WARROOM_REPORT_TARGETS" in broken.get_json()["error"]["message"]
