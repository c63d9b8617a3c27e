"""Benchmark of live GPS intake through gunicorn on PostgreSQL, with PASS/FAIL per goal.

    python bench/gps.py [--workers N] [--devices N] [--duration S] [--batch N]
    python bench/gps.py --smoke [--floor 0.8]

Creates a database of its own (`warroom_bench_gps_<pid>`) on the local PostgreSQL, migrates it,
makes units with device tokens, starts `gunicorn -w N wsgi:app`, and drives it from this
machine with `wrk` (C, LuaJIT scripts: far less CPU than a Python load generator would take
from the same 2 cores; Debian `apt-get install -y wrk`):

* single fixes through `GET /gps/osmand`, each request a different device;
* batches of `--batch` fixes through `POST /api/v1/positions`.

Beside them, in the same run, the baseline: plain row-by-row inserts into the same `positions`
table with psycopg, one INSERT and one COMMIT per fix, on one connection. The goals (issue 20)
are ratios to that baseline where the machine's speed matters, so they hold on a busy machine:
single fixes at least 1x the baseline and 1,000/s, batches 10,000 fixes/s, at most 1 ms of
the workers' CPU per single fix. Prints the figures and PASS/FAIL per goal; exits 1 when one
fails. Then stops gunicorn and drops the database.

`--smoke` is the guard `make bench-smoke` runs: seconds, not minutes (fewer devices, short
runs); it prints one line starting `SMOKE gps` with the figures and exits 1 only when single
fixes fall below `--floor` times the row-by-row baseline (default 0.8) or requests fail.
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
#: this run's own database: another run at the same time (`make bench-smoke` elsewhere) must not drop it
DATABASE = f"warroom_bench_gps_{os.getpid()}"
TARGET_SINGLE = 1_000.0
TARGET_BATCH = 10_000.0
#: single fixes per second against the row-by-row baseline's
TARGET_RATIO = 1.0
#: the workers' CPU per single fix, ms
TARGET_CPU_MS = 1.0
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


@dataclass
class Figures:
    """One run's measurements."""

    workers: int
    devices: int
    duration_s: float
    batch_size: int
    connections: int
    load_before: float
    load_after: float
    baseline_per_s: float
    warm: Load
    single: Load
    batch: Load
    single_cpu_s: float
    batch_cpu_s: float
    postgres_single_cpu_s: float
    workers_rss_mb: float
    stored: int

    @property
    def single_per_s(self) -> float:
        return (self.single.requests - self.single.failed) / self.single.duration_s

    @property
    def batch_per_s(self) -> float:
        return (self.batch.requests - self.batch.failed) * self.batch_size / self.batch.duration_s

    @property
    def ratio(self) -> float:
        return self.single_per_s / self.baseline_per_s if self.baseline_per_s else 0.0

    @property
    def cpu_ms_per_fix(self) -> float:
        return self.single_cpu_s / max(1, self.single.requests - self.single.failed) * 1e3

    @property
    def postgres_ms_per_fix(self) -> float:
        return self.postgres_single_cpu_s / max(1, self.single.requests - self.single.failed) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 2) - 1,
        help="gunicorn workers; more than 2 × CPUs - 1 measured slower here (wrk and PostgreSQL share the cores)",
    )
    parser.add_argument("--devices", type=int, default=None, help="units reporting (default 2000; smoke 300)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per measurement (default 10; smoke 2)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--smoke", action="store_true", help="a short run for `make bench-smoke` (see above)")
    parser.add_argument(
        "--floor", type=float, default=0.8, help="--smoke fails below this many times the baseline (default 0.8)"
    )
    args = parser.parse_args()
    devices = args.devices or (300 if args.smoke else 2000)
    duration_s = args.duration or (2.0 if args.smoke else 10.0)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is required (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    figures = measure(wrk, args.workers, devices, duration_s, args.batch, args.connections, args.smoke)
    if args.smoke:
        return smoke_verdict(figures, args.floor)
    return report(figures)


def measure(
    wrk: str, workers: int, devices: int, duration_s: float, batch_size: int, connections: int, smoke: bool
) -> Figures:
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
        # each device's flood limit (300 fixes a minute) is checked as ever but never reached: a bench
        # device sends hundreds of fixes a second, and on a fast machine the smoke's 300 devices got
        # three batches of 100 each inside one window (429, counted as failed requests)
        "WARROOM_GPS_BURST": "1e9",
    }
    gunicorn: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [sys.executable, "-m", "cad.cli", "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True
        )
        tokens = make_units(url, devices)
        (work / "tokens.txt").write_text("\n".join(tokens) + "\n")

        load_before = os.getloadavg()[0]
        baseline_per_s = baseline_rows(url, duration_s)
        port = free_port()
        log = open(work / "gunicorn.log", "wb")  # noqa: SIM115
        gunicorn = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "-w",
                str(workers),
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
        wait_until_booted(gunicorn.pid, workers)
        # steady state: every worker has its connections, its prepared statements and the
        # devices' tokens (a phone reports every few seconds)
        warm_s = 1.0 if smoke else max(2.0, devices / 250)
        hour_ago = datetime.now(UTC) - timedelta(hours=1)  # each phase newer than the last: fixes move units
        warm = run_wrk(wrk, base, work, single_script(work, 2, hour_ago), warm_s, connections)
        cpu0, pg0 = worker_cpu_s(gunicorn.pid), postgres_cpu()
        single = run_wrk(
            wrk,
            base,
            work,
            single_script(work, 2, datetime.now(UTC) - timedelta(minutes=30)),
            duration_s,
            connections,
        )
        cpu1, pg_single = worker_cpu_s(gunicorn.pid), postgres_cpu_since(pg0)
        batch = run_wrk(
            wrk,
            base,
            work,
            batch_script(work, 2, batch_size, datetime.now(UTC) - timedelta(minutes=20)),
            duration_s,
            connections,
        )
        cpu2 = worker_cpu_s(gunicorn.pid)
        return Figures(
            workers=workers,
            devices=devices,
            duration_s=duration_s,
            batch_size=batch_size,
            connections=connections,
            load_before=load_before,
            load_after=os.getloadavg()[0],
            baseline_per_s=baseline_per_s,
            warm=warm,
            single=single,
            batch=batch,
            single_cpu_s=cpu1 - cpu0,
            batch_cpu_s=cpu2 - cpu1,
            postgres_single_cpu_s=pg_single,
            workers_rss_mb=worker_rss_mb(gunicorn.pid),
            stored=count_positions(url),
        )
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGINT)  # quick shutdown: everything is measured
            try:
                gunicorn.wait(20)
            except subprocess.TimeoutExpired:
                gunicorn.kill()
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(work, ignore_errors=True)


def report(f: Figures) -> int:
    """The full run's table and a verdict per goal; 0 when every goal holds."""
    print(
        f"GPS intake: gunicorn -w {f.workers}, PostgreSQL, {f.devices} devices, "
        f"wrk 2 threads x {f.connections} connections, {f.duration_s:g} s each, {os.cpu_count()} CPUs, "
        f"load average {f.load_before:.2f} before, {f.load_after:.2f} after"
    )
    print(f"  warm-up: {f.warm.requests} requests ({f.warm.duration_s:.0f} s)")
    print(f"  {'what':<34} {'fixes/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} {'worker CPU':>11}")
    for what, load, rate, used_s in (
        ("baseline: INSERT + COMMIT per fix", None, f.baseline_per_s, None),
        ("single fixes  /gps/osmand", f.single, f.single_per_s, f.single_cpu_s),
        (f"batches of {f.batch_size} /api/v1/positions", f.batch, f.batch_per_s, f.batch_cpu_s),
    ):
        if load is None or used_s is None:
            print(f"  {what:<34} {rate:>9,.0f}   (psycopg, one connection, same table and database)")
            continue
        print(
            f"  {what:<34} {rate:>9,.0f} {load.p50_ms:>7.1f} {load.p99_ms:>7.1f} {load.failed:>8} "
            f"{used_s / load.duration_s:>9.2f} c"
        )
    print(
        f"  CPU per single fix: gunicorn workers {f.cpu_ms_per_fix:.2f} ms + PostgreSQL backends "
        f"{f.postgres_ms_per_fix:.2f} ms; workers' memory (RSS, sum) {f.workers_rss_mb:.0f} MB; "
        f"positions stored {f.stored:,}"
    )
    goals = [
        (f"single fixes / baseline {f.ratio:.2f}x", f">= {TARGET_RATIO:g}x", f.ratio >= TARGET_RATIO),
        (f"single fixes {f.single_per_s:,.0f}/s", f">= {TARGET_SINGLE:,.0f}/s", f.single_per_s >= TARGET_SINGLE),
        (f"batches {f.batch_per_s:,.0f} fixes/s", f">= {TARGET_BATCH:,.0f}/s", f.batch_per_s >= TARGET_BATCH),
        (
            f"worker CPU per single fix {f.cpu_ms_per_fix:.2f} ms",
            f"<= {TARGET_CPU_MS:g} ms",
            f.cpu_ms_per_fix <= TARGET_CPU_MS,
        ),
        ("requests failed", "0", f.single.failed == 0 and f.batch.failed == 0),
    ]
    for what, target, ok in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {what:<40} goal {target}")
    return 0 if all(ok for _, _, ok in goals) else 1


def smoke_verdict(f: Figures, floor: float) -> int:
    """One line for `make bench-smoke`; 1 when single fixes fall below `floor` x the baseline or requests fail."""
    failed = f.single.failed + f.batch.failed
    ok = f.ratio >= floor and failed == 0
    print(  # the runner's format (bench/smoke.py): figure, baseline, ratio, floor, verdict last
        f"SMOKE gps {f.single_per_s:,.0f}/s {f.baseline_per_s:,.0f}/s ratio={f.ratio:.2f} floor={floor:g} "
        f"(single fixes against psycopg row by row; worker CPU {f.cpu_ms_per_fix:.2f} ms/fix; batches "
        f"{f.batch_per_s:,.0f} fixes/s; failed {failed}; load {f.load_before:.2f}) {'PASS' if ok else 'FAIL'}"
    )
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


def wait_until_booted(master: int, workers: int) -> None:
    """Until every worker has started and gone idle: one answering is not all booted, and a worker
    still importing the app during a measurement would count its start-up as work."""
    deadline = time.monotonic() + 120
    before = -1.0
    while time.monotonic() < deadline:
        pids = _workers(master)
        used = sum(cpu_s(pid) for pid in pids)
        if len(pids) == workers and used - before < 0.02:
            return
        before = used
        time.sleep(0.3)
    raise RuntimeError("gunicorn's workers did not settle")


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
            said = cmdline.read_bytes()
            if said.startswith(b"postgres: ") and f" {DATABASE} ".encode() in said:
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
