"""Benchmark of live GPS intake through gunicorn on PostgreSQL, with PASS/FAIL per target.

    python bench/gps.py [--workers N] [--devices N] [--duration S] [--batch N]

Creates a database of its own (`warroom_bench_gps`) on the local PostgreSQL, migrates it,
makes units with device tokens, starts `gunicorn -w N wsgi:app`, and drives it from this
machine with `wrk` (C, LuaJIT scripts: far less CPU than a Python load generator would take
from the same 2 cores; Debian `apt-get install -y wrk`):

* single fixes through `GET /gps/osmand`, each request a different device;
* batches of `--batch` fixes through `POST /api/v1/positions`.

Beside each, the baseline: plain row-by-row inserts into the same `positions` table with
psycopg, one INSERT and one COMMIT per fix, on one connection. Prints positions per second,
the workers' CPU and memory, PASS/FAIL for 1,000 single fixes/s and 10,000 fixes/s in
batches, then stops gunicorn and drops the database.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from _proc import cpu_s, free_port, rss_mb

REPO = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("WARROOM_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "warroom_bench_gps"
TARGET_SINGLE = 1_000.0
TARGET_BATCH = 10_000.0
CENTRE = (-1.2650, 116.8400)

SINGLE_LUA = r"""
-- one fix per request, devices dealt out to threads, time rising per thread: no duplicates
local tokens = {}
for line in io.lines("TOKENS") do tokens[#tokens + 1] = line end
local threads, counter, first, count, base_ms = {}, 0, 0, 0, BASE_MS
local id = 0
function setup(thread)
  thread:set("first", id) thread:set("step", NTHREADS) id = id + 1
  table.insert(threads, thread)
end
function init(args) counter = 0 end
function request()
  counter = counter + 1
  local n = math.floor((#tokens - 1 - first) / step) + 1
  local device = first + step * (counter % n) + 1
  local lat = CLAT + (counter % 97) * 0.0001
  local path = string.format("/gps/osmand?id=%s&lat=%.6f&lon=%.6f&timestamp=%d&speed=12&bearing=90&accuracy=8&batt=77",
    tokens[device], lat, CLON, base_ms + counter)
  return wrk.format("GET", path)
end
"""

BATCH_LUA = r"""
-- BATCH fixes per request from one device, time rising per thread: no duplicates
local tokens = {}
for line in io.lines("TOKENS") do tokens[#tokens + 1] = line end
local id, counter, base_s = 0, 0, BASE_S
function setup(thread) thread:set("first", id) thread:set("step", NTHREADS) id = id + 1 end
function request()
  counter = counter + 1
  local n = math.floor((#tokens - 1 - first) / step) + 1
  local device = first + step * (counter % n) + 1
  local parts = {}
  for i = 1, BATCH do
    local ms = (counter * BATCH + i)
    local at = os.date("!%Y-%m-%dT%H:%M:%S", base_s + math.floor(ms / 1000)) .. string.format(".%03dZ", ms % 1000)
    parts[i] = string.format('{"lat":%.6f,"lon":%.6f,"at":"%s",' ..
      '"accuracy_m":8,"speed_mps":12.5,"bearing_deg":90,"battery_pct":77}', CLAT + (i % 50) * 0.0001, CLON, at)
  end
  local body = '{"positions":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/v1/positions",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[device]}, body)
end
"""

DONE_LUA = r"""
function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("WRKRESULT requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d" ..
    " duration_us=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, non2xx, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass
class Load:
    requests: int
    failed: int
    duration_s: float
    p50_ms: float
    p99_ms: float


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 2) - 1,
        help="gunicorn workers; more than 2 × CPUs - 1 measured slower here (wrk and PostgreSQL share the cores)",
    )
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is required (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2

    work = Path(tempfile.mkdtemp(prefix="warroom-bench-gps-"))
    admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{DATABASE}"')
    url = f"{SERVER}/{DATABASE}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "WARROOM_INSTANCE": str(work),
        "WARROOM_ROADS": "",
    }
    gunicorn: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [sys.executable, "-m", "cad.cli", "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True
        )
        tokens = make_units(url, args.devices)
        (work / "tokens.txt").write_text("\n".join(tokens) + "\n")

        load_before = os.getloadavg()[0]
        baseline_single = baseline_rows(url, args.duration)
        port = free_port()
        log = open(work / "gunicorn.log", "wb")  # noqa: SIM115
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "-w",
                str(args.workers),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base, gunicorn)
        # steady state: every worker has met the devices (a phone reports every few seconds, and a
        # worker keeps a token WARROOM_GPS_TOKEN_TTL_S); 2,000 devices need a few seconds of that
        warm_s = max(2.0, args.devices / 250)
        hour_ago = datetime.now(UTC) - timedelta(hours=1)  # each phase newer than the last: fixes move units
        warm = run_wrk(wrk, base, work, single_script(work, 2, hour_ago), warm_s, args.connections)
        cpu0, pg0 = worker_cpu_s(gunicorn.pid), postgres_cpu()
        single = run_wrk(
            wrk,
            base,
            work,
            single_script(work, 2, datetime.now(UTC) - timedelta(minutes=30)),
            args.duration,
            args.connections,
        )
        cpu1, pg_single = worker_cpu_s(gunicorn.pid), postgres_cpu_since(pg0)
        batch = run_wrk(
            wrk,
            base,
            work,
            batch_script(work, 2, args.batch, datetime.now(UTC) - timedelta(minutes=20)),
            args.duration,
            args.connections,
        )
        cpu2 = worker_cpu_s(gunicorn.pid)
        workers_rss_mb = worker_rss_mb(gunicorn.pid)
        stored = count_positions(url)
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            try:
                gunicorn.wait(20)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(work, ignore_errors=True)

    single_rate = (single.requests - single.failed) / single.duration_s
    batch_rate = (batch.requests - batch.failed) * args.batch / batch.duration_s
    print(
        f"GPS intake: gunicorn -w {args.workers}, PostgreSQL, {args.devices} devices, "
        f"wrk 2 threads x {args.connections} connections, {args.duration:g} s each, {os.cpu_count()} CPUs"
    )
    print(f"  warm-up: {warm.requests} requests ({warm.duration_s:.0f} s, so each worker knows the devices' tokens)")
    rows = [
        ("single fixes  /gps/osmand", single, single_rate, TARGET_SINGLE, cpu1 - cpu0),
        (f"batches of {args.batch} /api/v1/positions", batch, batch_rate, TARGET_BATCH, cpu2 - cpu1),
    ]
    print(
        f"  {'what':<34} {'fixes/s':>9} {'baseline':>9} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} "
        f"{'worker CPU':>11}  target"
    )
    for what, load, rate, target, used_s in rows:
        verdict = "PASS" if rate >= target and load.failed == 0 else "FAIL"
        print(
            f"  {what:<34} {rate:>9,.0f} {baseline_single:>9,.0f} {load.p50_ms:>7.1f} {load.p99_ms:>7.1f} "
            f"{load.failed:>8} {used_s / load.duration_s:>9.2f} c  >= {target:,.0f}/s {verdict}"
        )
    print("  baseline: psycopg, one INSERT + COMMIT per fix, one connection, same table and database")
    single_fixes = single.requests - single.failed
    print(
        f"  CPU per single fix: gunicorn workers {(cpu1 - cpu0) / single_fixes * 1e3:.2f} ms + PostgreSQL backends "
        f"{pg_single / single_fixes * 1e3:.2f} ms (load average before the run: {load_before:.2f})"
    )
    print(f"  gunicorn workers' memory (RSS, sum): {workers_rss_mb:.0f} MB; positions stored: {stored:,}")
    ok = all(rate >= target and load.failed == 0 for _, load, rate, target, _ in rows)
    return 0 if ok else 1


def make_units(url: str, devices: int) -> list[str]:
    tokens = [f"dev_{secrets.token_urlsafe(18)}" for _ in range(devices)]
    with psycopg.connect(url) as conn:
        agency_id = conn.execute("INSERT INTO agencies (code, name) VALUES ('bench', 'Bench') RETURNING id").fetchone()[
            0
        ]  # type: ignore[index]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO units (callsign, type, agency_id, status, capabilities, crew_size, device_token_hash)"
                " VALUES (%s, 'ambulance', %s, 'available', '[]', 2, %s)",
                [(f"B-{i:05d}", agency_id, hashlib.sha256(t.encode()).hexdigest()) for i, t in enumerate(tokens)],
            )
            cur.execute(
                "INSERT INTO units (callsign, type, agency_id, status, capabilities, crew_size)"
                " VALUES ('BASELINE', 'ambulance', %s, 'available', '[]', 2)",
                (agency_id,),
            )
    return tokens


def baseline_rows(url: str, duration_s: float) -> float:
    """Fixes per second by the plainest way there is: one INSERT and one COMMIT each."""
    start_at = datetime.now(UTC) - timedelta(hours=5)
    with psycopg.connect(url) as conn:
        unit_id = conn.execute("SELECT id FROM units WHERE callsign = 'BASELINE'").fetchone()[0]  # type: ignore[index]
        conn.commit()
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < duration_s:
            now = datetime.now(UTC)
            conn.execute(
                "INSERT INTO positions (unit_id, lat, lon, fix_at, received_at, accuracy_m, speed_mps, bearing_deg,"
                " battery_pct, source) VALUES (%s, %s, %s, %s, %s, 8, 12.5, 90, 77, 'gps')",
                (unit_id, CENTRE[0], CENTRE[1], start_at + timedelta(milliseconds=count), now),
            )
            conn.commit()
            count += 1
        return count / (time.perf_counter() - started)


def single_script(work: Path, threads: int, base: datetime) -> Path:
    return _script(work, "single.lua", SINGLE_LUA, threads, BASE_MS=str(int(base.timestamp() * 1000)))


def batch_script(work: Path, threads: int, batch: int, base: datetime) -> Path:
    return _script(work, "batch.lua", BATCH_LUA, threads, BASE_S=str(int(base.timestamp())), BATCH=str(batch))


def _script(work: Path, name: str, text: str, threads: int, **values: str) -> Path:
    values = {
        "TOKENS": str(work / "tokens.txt"),
        "NTHREADS": str(threads),
        "CLAT": str(CENTRE[0]),
        "CLON": str(CENTRE[1]),
        **values,
    }
    for key, value in values.items():
        text = text.replace(key, value)
    path = work / name
    path.write_text(text + DONE_LUA)
    return path


def run_wrk(wrk: str, base: str, work: Path, script: Path, duration_s: float, connections: int) -> Load:
    result = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "10s", "-s", str(script), base],
        capture_output=True,
        text=True,
        timeout=duration_s + 60,
    )
    match = re.search(r"WRKRESULT (.*)", result.stdout)
    if match is None:
        raise RuntimeError(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    fields = dict(pair.split("=") for pair in match.group(1).split())
    failed = sum(int(fields[k]) for k in ("non2xx", "connect", "read", "write", "timeout"))
    return Load(
        int(fields["requests"]),
        failed,
        int(fields["duration_us"]) / 1e6,
        float(fields["p50_ms"]),
        float(fields["p99_ms"]),
    )


def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            urllib.request.urlopen(base + "/gps/osmand?id=x", timeout=2)
        except urllib.error.HTTPError:
            return  # 401: up and answering
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer")


def _workers(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def worker_cpu_s(master: int) -> float:
    """User + system CPU seconds of the gunicorn workers so far."""
    return sum(cpu_s(pid) for pid in _workers(master))


def worker_rss_mb(master: int) -> float:
    return sum(rss_mb(pid) for pid in _workers(master))


def postgres_cpu() -> dict[int, float]:
    """CPU seconds so far of the PostgreSQL backends serving the bench's database, by pid."""
    seen = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes().startswith(b"postgres: ") and DATABASE.encode() in cmdline.read_bytes():
                pid = int(cmdline.parent.name)
                seen[pid] = cpu_s(pid)
        except (OSError, ValueError):  # gone meanwhile
            continue
    return seen


def postgres_cpu_since(before: dict[int, float]) -> float:
    """PostgreSQL's CPU seconds since `before` (backends started since count whole)."""
    return sum(now - before.get(pid, 0.0) for pid, now in postgres_cpu().items())


def count_positions(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM positions").fetchone()[0])  # type: ignore[index]


if __name__ == "__main__":
    sys.exit(main())
