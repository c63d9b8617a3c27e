"""Benchmark of the GPS flood limit's flush on PostgreSQL: adding one process's counts of N units
to the shared counters (`SqlStorage.incr_many`), which the request that comes a second after the
last flush pays for.

    python bench/flood_flush.py [--units 100,1000,5000] [--runs 15]

Creates a database of its own (`warroom_bench_limits`) on the local PostgreSQL, migrates it,
then times, for each N, the flush as it is (one statement: the keys and amounts as two arrays)
and, as the baseline in the same run, the statement it replaced (one upsert per unit through
SQLAlchemy's executemany, which sends one statement per row because the upsert takes `now`).
Both count the same rows on the same tables, alternately. Prints the median and p95 in ms, then
drops the database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cad import clock  # noqa: E402
from cad.app import create_app  # noqa: E402
from cad.config import Settings  # noqa: E402
from cad.db import db  # noqa: E402
from cad.rate_limits import SqlStorage  # noqa: E402

SERVER = os.environ.get("WARROOM_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432")
DATABASE = "warroom_bench_limits"


def per_row(storage: SqlStorage, amounts: dict[str, int], expiry: int) -> None:
    """The baseline: the flush before, one upsert per key."""
    now = clock.now()
    rows = [
        {"key": key, "count": amounts[key], "expires_at": now + timedelta(seconds=expiry), "now": now}
        for key in sorted(amounts)
    ]
    with storage.engine.begin() as connection:
        {row.key: (int(row.count), row.expires_at.timestamp()) for row in connection.execute(storage._incr, rows)}


def timed_ms(flush: object, *args: object) -> float:
    started = time.perf_counter()
    flush(*args)  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", default="100,1000,5000", help="units per flush, comma-separated")
    parser.add_argument("--runs", type=int, default=15, help="flushes of each kind per size")
    args = parser.parse_args()
    admin = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    try:
        from flask_migrate import upgrade

        settings = Settings.from_env(
            {"DATABASE_URL": f"{SERVER}/{DATABASE}", "WARROOM_INSTANCE": tempfile.mkdtemp(), "WARROOM_ROADS": ""}
        )
        app = create_app(settings=settings)
        with app.app_context():
            upgrade()
            storage = SqlStorage(db.engine)
            print(f"GPS flood-limit flush on PostgreSQL, {args.runs} flushes each, {os.cpu_count()} CPUs (ms)")
            print(f"{'units':>6} | {'arrays median':>13} {'p95':>7} | {'per row (before) median':>23} {'p95':>7} | ×")
            for units in (int(n) for n in args.units.split(",")):
                amounts = {f"LIMITER/gps/{n}/300/60": 3 for n in range(units)}
                storage.incr_many(amounts, 60)  # the rows exist, as in a running centre: updates
                arrays, rows = [], []
                for _ in range(args.runs):
                    arrays.append(timed_ms(storage.incr_many, amounts, 60))
                    rows.append(timed_ms(per_row, storage, amounts, 60))
                a50, a95 = statistics.median(arrays), statistics.quantiles(arrays, n=20)[-1]
                r50, r95 = statistics.median(rows), statistics.quantiles(rows, n=20)[-1]
                print(f"{units:>6} | {a50:>13.1f} {a95:>7.1f} | {r50:>23.1f} {r95:>7.1f} | {r50 / a50:>7.1f}×")
            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
