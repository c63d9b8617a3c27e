"""A surge of 112 calls against the whole centre, then the same with the database restarted mid-run.

    python bench/surge.py [--normal-rate 6] [--factor 10] [--minutes 10] [--compress 10] [--workers 3]

The centre runs as in production: gunicorn (threaded workers) on a PostgreSQL cluster of the
bench's own (Debian's pg_createcluster, so it can be restarted), the SIP agent and the
scheduler as their own processes, the demo city seeded on the Balikpapan extract. The
simulator (`simulator.run`) drives it only through its interfaces: 112 calls over SIP with
PIDF-LO (sipp), signed SMS with AML, OsmAnd GPS from every vehicle, camera reports, crews.

The surge is `--factor` × the normal call rate for `--minutes`, compressed `--compress` times
(10 minutes at 10× a normal 6 calls/min = 600 calls, in 60 s). Printed per run: calls placed,
accepted (SIP 200 OK / SMS 2xx), lost (placed but not in the record: must be 0), incidents,
p50/p95 of INVITE → visible on the event stream, incident → first recommendation, dispatch →
crew notified (the centre's own stamps), and CPU and memory of each process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import requests  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from _proc import Process, cpu_or_0, free_block, free_port, postgres_pids  # noqa: E402
from live import DisposablePostgres  # noqa: E402

from cad.app import close_app, create_app  # noqa: E402
from cad.config import SHARED_DATA, Settings  # noqa: E402
from cad.db import db  # noqa: E402
from cad.demo import seed_demo  # noqa: E402
from cad.services.simulation import issue_simulator_keys  # noqa: E402
from simulator.centre import Access, Centre, CentreError  # noqa: E402
from simulator.run import Options, Stats, percentiles, simulate  # noqa: E402

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"
TWILIO = "surge-bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--normal-rate", type=float, default=6.0, help="calls a minute on a normal day")
    parser.add_argument("--factor", type=float, default=10.0, help="the surge: × the normal rate")
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the surge lasts (real time)")
    parser.add_argument("--compress", type=float, default=10.0, help="run it this many times faster")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds a caller stays on the line")
    parser.add_argument(
        "--sip-workers", type=int, default=8, help="SIP agents in the pool behind Kamailio (0: one agent alone)"
    )
    parser.add_argument("--skip-restart", action="store_true", help="only the first run")
    args = parser.parse_args()
    if not ROADS.exists() or not shutil.which("sipp"):
        print(f"needs {ROADS} and sipp (Debian sip-tester)")
        return 2
    rate = args.normal_rate * args.factor * args.compress
    duration_s = args.minutes * 60 / args.compress
    print(
        f"surge: {args.factor:g}× a normal {args.normal_rate:g} calls/min for {args.minutes:g} min, compressed "
        f"{args.compress:g}× → {rate:g} calls/min for {duration_s:g} s; gunicorn -w {args.workers}, PostgreSQL, "
        f"{f'{args.sip_workers} SIP agents behind Kamailio' if args.sip_workers else 'one SIP agent'} and the "
        f"scheduler as processes; callers hold {args.hold:g} s; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    failed = False
    for restart in (False, True) if not args.skip_restart else (False,):
        failed |= run(args, rate, duration_s, restart)
    return 1 if failed else 0


def run(args: argparse.Namespace, rate: float, duration_s: float, restart: bool) -> bool:
    cluster = DisposablePostgres.create()
    work = Path(tempfile.mkdtemp(prefix="warroom-surge-"))
    processes: list[Process] = []
    bouncer: threading.Timer | None = None
    try:
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "WARROOM_INSTANCE": str(work),
            "WARROOM_ROADS": str(ROADS),
            "TWILIO_AUTH_TOKEN": TWILIO,
            "WARROOM_SIP_RING_S": "0.1",
        }
        for step in (["db", "upgrade"], ["roads", "import", str(ROADS)]):  # the road cache: workers load it fast
            subprocess.run([sys.executable, "-m", "cad.cli", *step], env=env, cwd=REPO, check=True, capture_output=True)
        settings = Settings.from_env(env)
        app = create_app({}, settings=settings)
        with app.app_context():
            seed_demo(db.session, str(ROADS))
            keys = issue_simulator_keys(db.session)
        port, sip_port = free_port(), free_block(args.sip_workers + 1)
        env["WARROOM_CENTRE_URL"] = url = f"http://127.0.0.1:{port}"
        env["WARROOM_INTAKE_TOKEN"] = settings.shared_intake_token()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        logs = open(work / "processes.log", "wb")  # noqa: SIM115
        for name, command in (
            ("gunicorn", [gunicorn, "-w", str(args.workers), "-b", f"127.0.0.1:{port}", "wsgi:app"]),
            ("SIP", sip_command(args.sip_workers, sip_port)),
            ("scheduler", [sys.executable, "-m", "cad.cli", "scheduler"]),
        ):
            popen = subprocess.Popen(command, env=env, cwd=REPO, stdout=logs, stderr=subprocess.STDOUT)
            processes.append(Process(name, popen))
        access = Access(url, keys.api_token, keys.devices, keys.crews, TWILIO, None, f"127.0.0.1:{sip_port}")
        wait_until_ready(Centre(access, timeout_s=60))
        agents_up = time.monotonic() + 60
        while not sip_ready(work, sip_port, args.sip_workers):
            if time.monotonic() > agents_up:
                raise RuntimeError("the SIP agents did not start; see the processes' log")
            time.sleep(0.2)
        options = Options(
            rate_per_min=rate, duration_s=duration_s, grace_s=0.0, daily_pattern=False, hold_s=args.hold,
            gps_every_s=5.0, camera_every_s=30.0, speed=args.compress, report_every_s=1e9,
        )  # fmt: skip
        for process in processes:
            process.cpu0 = process.cpu()
        pg0 = {pid: cpu_or_0(pid) for pid in postgres_pids(cluster.version, cluster.name)}
        me0 = time.process_time()
        if restart:
            bouncer = threading.Timer(duration_s / 2, lambda: bounce(cluster))
            bouncer.start()
        stats = simulate(Centre(access), options)
        cpu = {p.name: (p.cpu() - p.cpu0, p.rss()) for p in processes}
        pg_cpu = sum(cpu_or_0(pid) - pg0.get(pid, 0.0) for pid in postgres_pids(cluster.version, cluster.name))
        me_cpu = time.process_time() - me0
        time.sleep(5 if not restart else 20)  # journals replay, crews get told
        with app.app_context():
            lost = report(stats, restart, duration_s, cpu, pg_cpu, me_cpu)
        close_app(app)
        return bool(lost)
    finally:
        if bouncer is not None:
            bouncer.cancel()
            bouncer.join()
        for process in processes:
            process.popen.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.popen.wait(20)
            except subprocess.TimeoutExpired:
                process.popen.kill()
        cluster.drop()
        shutil.rmtree(work, ignore_errors=True)


def sip_ready(work: Path, port: int, workers: int) -> bool:
    """Every agent says it listens (a pool's workers log to files of their own), and Kamailio too."""
    logs = [work / "processes.log"] if workers == 0 else [
        work / "sip-pool" / f"worker-{port + 1 + i}.log" for i in range(workers)
    ]  # fmt: skip
    proxy = work / "sip-pool" / "kamailio.log"  # Kamailio in front: it says when it listens
    ready = workers == 0 or (proxy.exists() and "Listening on" in proxy.read_text(errors="replace"))
    return ready and all(log.exists() and "(UDP+TCP)" in log.read_text(errors="replace") for log in logs)


def sip_command(workers: int, port: int) -> list[str]:
    """The SIP intake: a supervised pool behind Kamailio on `port`, or one agent on it."""
    command = [sys.executable, "-m", "cad.cli", "sip", "--port", str(port), "--bind", "127.0.0.1"]
    return command + (["--workers", str(workers)] if workers > 0 else [])


def wait_until_ready(centre: Centre) -> None:
    """Every worker has its road graph: a few route requests answer."""
    deadline = time.monotonic() + 180
    ok = 0
    while ok < 6:
        try:
            centre.api("GET", "/route", **{"from": "-1.2650,116.8400", "to": "-1.2700,116.8350"})
            ok += 1
        except (CentreError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def bounce(cluster: DisposablePostgres) -> None:
    print("  … stopping PostgreSQL mid-surge for 5 s")
    cluster.stop()
    time.sleep(5)
    cluster.start()
    print("  … PostgreSQL is back")


def missing_calls(stats: Stats) -> list[str]:
    from cad.models import Call, Caller

    db.session.expire_all()
    recorded = set(db.session.scalars(sa.select(Caller.phone).join(Call, Call.caller_id == Caller.id)))
    return sorted(set(stats.placed) - recorded)


def report(
    stats: Stats, restart: bool, duration_s: float, cpu: dict[str, tuple[float, float]], pg_cpu: float, me_cpu: float
) -> list[str]:
    """Print one run's figures; the phones of the calls placed but not on record."""
    from cad.models import Assignment, Call, Incident

    lost = missing_calls(stats)
    calls = db.session.scalar(sa.select(sa.func.count()).select_from(Call))
    incidents = db.session.scalar(sa.select(sa.func.count()).select_from(Incident))
    notified = [
        (n - a).total_seconds()
        for a, n in db.session.execute(
            sa.select(Assignment.assigned_at, Assignment.notified_at).where(Assignment.notified_at.is_not(None))
        )
    ]
    unnotified = db.session.scalar(sa.select(sa.func.count()).where(Assignment.notified_at.is_(None)))
    accepted = stats.calls_answered_sip + stats.texts_sent
    title = "with PostgreSQL stopped for 5 s mid-surge" if restart else "steady database"
    print(f"\n{title}: {duration_s:g} s")
    print(f"  calls placed {stats.calls_placed}, accepted {accepted} (SIP 200 OK {stats.calls_answered_sip}, SMS "
          f"{stats.texts_sent}), SIP turned away {stats.calls_turned_away_sip} (on record), SIP failed "
          f"{stats.calls_failed_sip}, SMS refused {stats.texts_refused}")  # fmt: skip
    for failure in stats.sip_failures[:5]:
        print(f"    SIP failure {failure}")
    print(f"  calls in the record {calls}; LOST {len(lost)} {'PASS' if not lost else 'FAIL ' + ', '.join(lost[:5])}")
    print(f"  incidents {incidents} ({stats.incidents_created} by the simulated call-taker), dispatches "
          f"{stats.dispatches}, assignments not yet notified {unnotified}")  # fmt: skip
    for what, samples in (
        ("INVITE/SMS → visible on the event stream", stats.visible_s),
        ("incident → first recommendation", stats.recommend_s),
        ("dispatch → crew notified", notified),
    ):
        p50, p95 = percentiles(samples)
        print(f"  {what:<42} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  (n={len(samples)})")
    print(f"  GPS fixes {stats.fixes_sent} (refused {stats.fixes_refused}), camera reports {stats.congestion_reports}, "
          f"simulator errors {stats.errors}")  # fmt: skip
    for name, (used, memory) in cpu.items():
        print(f"  {name:<11} CPU {used / duration_s:5.2f} cores  RSS {memory:6.0f} MB")
    print(f"  {'PostgreSQL':<11} CPU {pg_cpu / duration_s:5.2f} cores")
    print(f"  {'simulator':<11} CPU {me_cpu / duration_s:5.2f} cores (in this process, sipp not counted)")
    return lost


if __name__ == "__main__":
    sys.exit(main())
