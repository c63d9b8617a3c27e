"""Response-time report benchmark: one year of a city's incidents in PostgreSQL.

    python bench/reports.py [--incidents 200000] [--database-url URL] [--keep] [--seed 112]

The issue's targets: the JSON report for the year in under 5 s and the PDF in under 20 s.

Setup: its own PostgreSQL database (default warroom_bench_reports on 127.0.0.1; dropped WITH
(FORCE) and recreated unless `--keep` finds it already holding the same number of incidents;
a `--database-url` must name a database containing "bench", since it is dropped), the schema
from the migrations, then rows loaded with COPY: 4 agencies, 120 units, `--incidents`
incidents spread over 2025 (WITA) with a daily rhythm, 8 districts, every incident type, and
their timeline (call received, answered, closed; per unit notified, en route, on scene,
cleared; one or two units), about 7.6 events per incident, with a little realistic damage
(0.5 % of answers missing, 0.3 % of arrivals stamped before the departure).

Measured, each on a fresh connection, the JSON report for the year three ways, checked equal:
the stamps pivoted in SQL and fetched as arrays, aggregated with numpy (the API's default on
PostgreSQL); everything in SQL (percentile_disc over grouping sets); the stamps fetched as rows
and aggregated in pure Python (the SQLite way). Then the PDF (default engine + WeasyPrint).
The load average is printed before and after: the machine's CPUs are shared.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cad.config import Settings  # noqa: E402
from reports import queries  # noqa: E402
from reports.generate import ReportConfig, response_times  # noqa: E402
from reports.render import report_json_bytes, report_pdf  # noqa: E402
from reports.report import build_report, report_dict  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/warroom_bench_reports"
YEAR_START = datetime(2024, 12, 31, 16, 0, tzinfo=UTC)  # 1 Jan 2025 00:00 WITA
YEAR_END = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
TYPES = [
    ("medis", 0.42),
    ("kecelakaan", 0.2),
    ("kebakaran", 0.12),
    ("keamanan", 0.1),
    ("penyelamatan", 0.06),
    ("bencana", 0.04),
    ("lainnya", 0.06),
]
DISTRICTS = ["Utara", "Selatan", "Timur", "Barat", "Tengah", "Pesisir", "Bukit", "Bandara"]
NULL = "\\N"  # COPY's text format
AGENCIES = [("damkar", "Pemadam Kebakaran"), ("dinkes", "Dinas Kesehatan"), ("polisi", "Polisi"), ("sar", "Basarnas")]


def ensure_database(url: str, keep: bool, incidents: int) -> bool:
    """True when a kept database already holds the data."""
    target = sa.engine.make_url(url)
    if "bench" not in (target.database or ""):
        raise SystemExit(f"refusing to drop {target.database!r}: the benchmark's database name must contain 'bench'")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database})
        if exists and keep:
            engine = sa.create_engine(url)
            try:
                with engine.connect() as c:
                    have = c.scalar(sa.text("SELECT count(*) FROM incidents"))
            except sa.exc.DBAPIError:
                have = None
            engine.dispose()
            if have == incidents:
                admin.dispose()
                return True
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()
    from flask_migrate import upgrade

    from cad.app import close_app, create_app

    with tempfile.TemporaryDirectory() as instance:
        env = {"DATABASE_URL": url, "WARROOM_INSTANCE": instance, "WARROOM_ROADS": ""}
        app = create_app(settings=Settings.from_env(env))
        with app.app_context():
            upgrade()
        close_app(app)
    return False


def pick(rng: random.Random, weighted: list[tuple[str, float]]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def load(url: str, incidents: int, seed: int) -> int:
    """The city's year, with COPY. Returns the number of timeline events."""
    import psycopg

    rng = random.Random(seed)
    dsn = sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for i, (code, name) in enumerate(AGENCIES, start=1):
            cur.execute("INSERT INTO agencies (id, code, name) VALUES (%s, %s, %s)", (i, code, name))
        unit_agency: dict[int, int] = {}
        units_of: dict[int, list[int]] = {1: [], 2: [], 3: [], 4: []}
        unit_types = {1: "fire_engine", 2: "ambulance", 3: "police", 4: "rescue"}
        for unit_id in range(1, 121):
            agency = 1 + (unit_id - 1) % 4
            unit_agency[unit_id] = agency
            units_of[agency].append(unit_id)
            cur.execute(
                "INSERT INTO units (id, callsign, type, agency_id, status, capabilities, crew_size) "
                "VALUES (%s, %s, %s, %s, 'available', '[]', 2)",
                (unit_id, f"{AGENCIES[agency - 1][0][:3].upper()}-{unit_id:03d}", unit_types[agency], agency),
            )
        agency_for = {"medis": 2, "kebakaran": 1, "keamanan": 3, "penyelamatan": 4, "bencana": 4}
        year_s = (YEAR_END - YEAR_START).total_seconds()
        events = io.StringIO()
        rows = io.StringIO()
        n_events = 0

        def ev(incident_id: int, unit_id: int | None, kind: str, at: datetime) -> None:
            nonlocal n_events
            n_events += 1
            stamp = at.isoformat()
            unit = unit_id if unit_id else NULL
            events.write(f"{incident_id}\t{unit}\t{kind}\t{stamp}\t{stamp}\tbench\t{{}}\n")

        with cur.copy(
            "COPY incidents (id, number, type, priority, status, district, created_at, closed_at) FROM STDIN"
        ) as copy_incidents:
            for incident_id in range(1, incidents + 1):
                # more calls by day than by night: rejection-sample the local hour
                while True:
                    received = YEAR_START + timedelta(seconds=rng.random() * year_s)
                    local_hour = (received.hour + 8) % 24
                    if rng.random() < (1.0 if 7 <= local_hour < 23 else 0.45):
                        break
                kind = pick(rng, TYPES)
                answered = received + timedelta(seconds=rng.lognormvariate(2.2, 0.5))
                created = answered + timedelta(seconds=rng.lognormvariate(3.3, 0.4))
                notified = created + timedelta(seconds=rng.lognormvariate(2.5, 0.6))
                closes = rng.random() < 0.97
                agency = agency_for.get(kind, rng.choice([1, 2, 3]))
                crew = rng.sample(units_of[agency], 2 if rng.random() < 0.15 else 1)
                ev(incident_id, None, "call_received", received)
                if rng.random() > 0.005:
                    ev(incident_id, None, "call_answered", answered)
                last_clear = notified
                for n, unit_id in enumerate(crew):
                    told = notified + timedelta(seconds=n * rng.uniform(5, 120))
                    rolling = told + timedelta(seconds=rng.lognormvariate(3.9 if kind != "medis" else 3.7, 0.35))
                    arriving = rolling + timedelta(seconds=rng.lognormvariate(5.2, 0.45))
                    if rng.random() < 0.003:
                        arriving = rolling - timedelta(seconds=rng.uniform(5, 60))
                    cleared = arriving + timedelta(seconds=rng.lognormvariate(7.3, 0.6))
                    last_clear = max(last_clear, cleared)
                    ev(incident_id, unit_id, "unit_notified", told)
                    ev(incident_id, unit_id, "unit_en_route", rolling)
                    ev(incident_id, unit_id, "unit_on_scene", arriving)
                    ev(incident_id, unit_id, "unit_cleared", cleared)
                closed_at = last_clear + timedelta(seconds=rng.uniform(30, 600)) if closes else None
                if closed_at is not None:
                    ev(incident_id, None, "incident_closed", closed_at)
                local_day = (created + timedelta(hours=8)).strftime("%Y%m%d")
                rows.write(
                    f"{incident_id}\tBEN-{local_day}-{incident_id:06d}\t{kind}\t{rng.randint(1, 4)}\t"
                    f"{'closed' if closes else 'on_scene'}\t{rng.choice(DISTRICTS)}\t{created.isoformat()}\t"
                    f"{closed_at.isoformat() if closed_at else NULL}\n"
                )
                if incident_id % 20000 == 0:
                    copy_incidents.write(rows.getvalue())
                    rows = io.StringIO()
            copy_incidents.write(rows.getvalue())
        with cur.copy(
            "COPY timeline_events (incident_id, unit_id, kind, at, recorded_at, actor, data) FROM STDIN"
        ) as copy_events:
            copy_events.write(events.getvalue())
        for table in ("incidents", "units", "agencies", "timeline_events"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE incidents")
        cur.execute("VACUUM ANALYZE timeline_events")
    return n_events


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=200_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it holds this many incidents")
    parser.add_argument("--seed", type=int, default=112)
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()} on {os.cpu_count()} CPUs")
    reused = ensure_database(args.database_url, args.keep, args.incidents)
    engine = sa.create_engine(args.database_url)
    if reused:
        with engine.connect() as conn:
            n_events = conn.scalar(sa.text("SELECT count(*) FROM timeline_events"))
        print(f"kept database: {args.incidents:,} incidents, {n_events:,} timeline events")
    else:
        n_events, load_s = timed("load", lambda: load(args.database_url, args.incidents, args.seed))
        print(f"generated {args.incidents:,} incidents and {n_events:,} timeline events in {load_s:.1f} s (COPY)")

    config = ReportConfig()
    now = datetime.now(UTC)

    def json_report(engine_name: str) -> tuple[bytes, dict]:
        with engine.connect() as conn:
            report = response_times(conn, YEAR_START, YEAR_END, config, now=now, engine=engine_name)
        doc = report_dict(report)
        return report_json_bytes(doc), doc

    with engine.connect() as conn:  # warm the buffer cache once, as a server that has run a while has it
        conn.execute(sa.text("SELECT count(*) FROM timeline_events")).scalar()

    (_np_bytes, np_doc), np_s = timed("numpy", lambda: json_report("numpy"))
    (_sql_bytes, sql_doc), sql_s = timed("sql", lambda: json_report("sql"))

    def python_path() -> tuple[bytes, dict, float]:
        started = time.perf_counter()
        with engine.connect() as conn:
            stamps = queries.fetch_stamps(conn, YEAR_START, YEAR_END)
        fetched = time.perf_counter() - started
        report = build_report(stamps, start=YEAR_START, end=YEAR_END, tz=config.timezone, generated_at=now)
        doc = report_dict(report)
        return report_json_bytes(doc), doc, fetched

    (_py_bytes, py_doc, fetch_s), py_s = timed("python", python_path)

    def same(doc: dict) -> bool:
        return doc["aggregates"] == py_doc["aggregates"] and doc["findings"] == py_doc["findings"]

    def pdf() -> bytes:
        with engine.connect() as conn:
            report = response_times(conn, YEAR_START, YEAR_END, config, now=now)  # auto: numpy on PostgreSQL
        return report_pdf(report)

    pdf_bytes, pdf_s = timed("pdf", pdf)
    out = Path(tempfile.gettempdir()) / "warroom-bench-report.pdf"
    out.write_bytes(pdf_bytes)
    travel = next(a for a in np_doc["aggregates"] if a["dimension"] == "all" and a["interval"] == "travel")
    print(
        f"year report: {np_doc['incidents']:,} incidents, {len(np_doc['aggregates']):,} aggregate rows, "
        f"{len(np_doc['findings']):,} findings; travel p90 {travel['p90_s']} s"
    )
    verdict = "OK" if np_s < 5 else "MISSED"
    print(f"JSON, stamps pivoted in SQL, aggregated with numpy (API default): {np_s:6.2f} s   target < 5 s: {verdict}")
    print(f"JSON, aggregation all in SQL (percentile_disc, grouping sets):    {sql_s:6.2f} s")
    print(f"JSON, stamps fetched and aggregated in pure Python (SQLite's way): {py_s:6.2f} s  (fetch {fetch_s:.2f} s)")
    print(f"same aggregates and findings as pure Python: numpy {same(np_doc)}, SQL {same(sql_doc)}")
    print(
        f"PDF (numpy aggregation + WeasyPrint): {pdf_s:6.2f} s  ({len(pdf_bytes) / 1e6:.2f} MB, {out})   "
        f"target < 20 s: {'OK' if pdf_s < 20 else 'MISSED'}"
    )
    print(f"load average at end: {os.getloadavg()}")
    engine.dispose()
    if not (same(np_doc) and same(sql_doc)):
        raise SystemExit("the reports differ between engines")


if __name__ == "__main__":
    main()
