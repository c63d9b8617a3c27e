"""A shift compressed in time on one machine: the centre as in production under a whole room's load.

    python bench/shift.py [--seconds 120] [--quick] [--threads-only | --production-only]
                          [--consoles 60] [--units 400] [--baseline-streams 60] [--nodes 1]

The centre: `gunicorn wsgi:app` with the repository's gunicorn.conf.py, on a PostgreSQL cluster
of the bench's own, the demo city (Balikpapan) grown to `--units` units, and `warroom scheduler`.
The load comes from two asyncio processes (bench/_shift_load.py), so the client is not what
limits 460 streams on 2 cores:

* `--consoles` consoles (half call-takers, half dispatchers, each its own user with a bearer
  token) and one crew phone per unit (a crew user bound to the unit), every one holding
  `GET /api/v1/events` for the whole run;
* a GPS fix from every unit every 5 s (OsmAnd);
* 112 calls and texts at bench/surge.py's peak (10 × a normal 6 calls/min, compressed 10×:
  600/min), 15 % of them texts. Calls come through the SIP agents' events API
  (`POST /telephony/sip/events`, INVITE then hang-up, as `telephony.courier` posts them), not
  over SIP, to keep this bench about the web side; texts through Twilio's signed webhook;
* call-takers answer the calls they hear of and make an incident of 30 % of them; dispatchers
  hear the incident, ask for recommendations and assign the first free unit; crews hear they are
  assigned, open the job and go acknowledged → en route → on scene → available; the dispatcher
  then closes the incident; every console fetches its board every `--board-every` s.

Printed per run: API p50/p95 per kind of request and overall, event delivery p50/p95 (from the
event's `at` in live_events, stamped by the centre when the change was made, to its arrival at
each stream: one clock, one machine), how many streams got every event they should (checked
against live_events after the run: a console every event, a crew phone its own unit's),
CPU and memory per process, requests failed, and lost: calls, texts, GPS fixes, incidents and
assignments answered 2xx but not on record (must be 0).

`--nodes 2`: the same against two nodes (gunicorn + scheduler each, `--node-workers` workers) on
the one database behind HAProxy running deploy/haproxy.cfg (tests/cluster.py's harness), the
first node killed outright (SIGKILL) half way: its streams must come back through HAProxy on the
other node and, resuming from Last-Event-ID, miss nothing; nothing answered 2xx may be lost.

Two runs by default, in this order: the baseline, today's threaded workers forced
(WARROOM_WORKER_CLASS=gthread and `--worker-class gthread`), with `--baseline-streams` streams,
enough to show where it stops answering; then the production config (gunicorn.conf.py as it is)
with the full load.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from _proc import Process, cpu_or_0, free_port, machine_busy_s, postgres_pids, rss_or_0  # noqa: E402
from live import DisposablePostgres  # noqa: E402
from surge import ROADS, wait_until_ready  # noqa: E402

from cad.app import close_app, create_app  # noqa: E402
from cad.config import Settings  # noqa: E402
from cad.db import db  # noqa: E402
from cad.demo import road_points, seed_demo  # noqa: E402
from cad.domain.tokens import hash_token, new_token  # noqa: E402
from cad.models import Role, Unit, User  # noqa: E402
from cad.services.simulation import issue_simulator_keys  # noqa: E402
from reports.stats import nearest_rank  # noqa: E402
from simulator.centre import Access, Centre  # noqa: E402

LOAD = Path(__file__).with_name("_shift_load.py")
TWILIO = "shift-bench"
SURGE_CALLS_PER_MIN = 6 * 10 * 10  # bench/surge.py's defaults: normal rate × factor × compression


@dataclass
class Setup:
    label: str
    worker_class: str | None  # None: gunicorn.conf.py decides
    consoles: int
    crews: int


@dataclass
class Outcome:
    label: str
    failed: int = 0
    lost: int = 0
    findings: list[str] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the load lasts, per run")
    parser.add_argument("--quick", action="store_true", help="a 30 s smoke run of each")
    parser.add_argument("--consoles", type=int, default=60, help="consoles (half call-takers, half dispatchers)")
    parser.add_argument("--units", type=int, default=400, help="units: each has a GPS phone and a crew stream")
    parser.add_argument("--baseline-streams", type=int, default=60, help="streams in the baseline run")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--threads-only", action="store_true", help="only the baseline (gthread workers)")
    only.add_argument("--production-only", action="store_true", help="only the production config")
    parser.add_argument("--calls-per-min", type=float, default=SURGE_CALLS_PER_MIN, help="calls and texts")
    parser.add_argument("--text-share", type=float, default=0.15)
    parser.add_argument("--incident-share", type=float, default=0.3, help="calls a call-taker makes an incident of")
    parser.add_argument("--hold", type=float, default=8.0, help="seconds a caller stays on the line")
    parser.add_argument("--gps-every", type=float, default=5.0)
    parser.add_argument("--board-every", type=float, default=10.0, help="seconds between a console's board fetches")
    parser.add_argument("--request-timeout", type=float, default=10.0, help="the client's limit per request")
    parser.add_argument("--connect-wait", type=float, default=30.0, help="how long streams may take to open")
    parser.add_argument("--nodes", type=int, default=1, choices=(1, 2), help="2: HAProxy, one node killed mid-run")
    parser.add_argument("--node-workers", type=int, default=2, help="gunicorn workers per node with --nodes 2")
    parser.add_argument("--seed", type=int, default=112)
    args = parser.parse_args()
    if args.quick:
        args.seconds = 30.0
    if args.nodes == 2 and importlib.util.find_spec("cluster") is None:
        print("--nodes 2: not yet: needs the two-node harness (tests/cluster.py, deploy/haproxy.cfg)")
        return 2
    if not ROADS.exists():
        print(f"needs {ROADS} (WARROOM_DATA_DIR)")
        return 2
    crews = args.units
    small = max(2, round(args.baseline_streams * args.consoles / (args.consoles + crews)))
    setups = []
    if not args.production_only:
        setups.append(Setup("baseline: gthread workers", "gthread", small, max(0, args.baseline_streams - small)))
    if not args.threads_only:
        setups.append(Setup("production: gunicorn.conf.py as it is", None, args.consoles, crews))
    print(
        f"shift: {args.seconds:g} s per run; {args.units} units reporting GPS every {args.gps_every:g} s, "
        f"{args.calls_per_min:g} calls/min ({100 * args.text_share:g} % texts; bench/surge.py's peak), "
        f"{100 * args.incident_share:g} % made incidents; boards every {args.board_every:g} s; client timeout "
        f"{args.request_timeout:g} s; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    print(
        "  calls through the SIP agents' events API (POST /telephony/sip/events), not over SIP: this bench is "
        "about the web side (bench/surge.py places real SIP calls)"
    )
    outcomes = [run(args, setup, n) for n, setup in enumerate(setups, start=1)]
    print("\nsummary:")
    for outcome in outcomes:
        print(f"  {outcome.label}: requests failed {outcome.failed}, lost {outcome.lost}")
        for finding in outcome.findings:
            print(f"    FINDING: {finding}")
    return 1 if any(o.lost for o in outcomes) else 0


# --- one run -------------------------------------------------------------------------------


def run(args: argparse.Namespace, setup: Setup, number: int) -> Outcome:
    pg = DisposablePostgres.create()
    work = Path(tempfile.mkdtemp(prefix="warroom-shift-"))
    processes: list[Process] = []
    centre: Running | None = None
    logs = open(work / "processes.log", "wb")  # noqa: SIM115
    try:
        env = {
            **os.environ,
            "DATABASE_URL": pg.url,
            "WARROOM_INSTANCE": str(work),
            "WARROOM_ROADS": str(ROADS),
            "TWILIO_AUTH_TOKEN": TWILIO,
        }
        command = [str(Path(sys.executable).with_name("gunicorn"))]
        if setup.worker_class:  # today's setup: gunicorn.conf.py's threads and workers as they default
            for tuned in ("WEB_CONCURRENCY", "WARROOM_WEB_THREADS"):
                env.pop(tuned, None)
            env["WARROOM_WORKER_CLASS"] = setup.worker_class
            command += ["--worker-class", setup.worker_class]  # works before gunicorn.conf.py reads the variable
        for step in (["db", "upgrade"], ["roads", "import", str(ROADS)]):
            subprocess.run([sys.executable, "-m", "cad.cli", *step], env=env, cwd=REPO, check=True, capture_output=True)
        settings = Settings.from_env(env)
        env["WARROOM_INTAKE_TOKEN"] = settings.shared_intake_token()
        plan = seed(settings, args, setup, number)
        if args.nodes == 1:
            centre = one_node(command, env, logs, work / "processes.log")
        else:
            centre = two_nodes(args, setup, env, work)
        processes += centre.processes
        url = plan["url"] = centre.url
        wait_until_ready(Centre(Access(url, plan.pop("api_token"), {}, {}), timeout_s=60))
        kind, workers, each = gunicorn_config(processes[0])
        unit = "threads" if kind == "gthread" else "connections"
        nodes = f"{args.nodes} nodes behind HAProxy, each " if args.nodes > 1 else ""
        print(f"\n[{number}] {setup.label}: {nodes}gunicorn {kind}, {workers} workers × {each} {unit}")
        print(
            f"  {setup.consoles} consoles + {setup.crews} crew phones = {setup.consoles + setup.crews} streams, "
            f"{args.units} units' GPS; the centre answers (every worker has its road graph)"
        )
        people_plan, devices_plan = work / "people.json", work / "devices.json"
        people_plan.write_text(json.dumps({**plan, "out": str(work / "people.pickle")}))
        devices_plan.write_text(json.dumps({**plan, "out": str(work / "devices.pickle")}))
        people = start_load("people", people_plan, logs)
        devices = start_load("devices", devices_plan, logs)
        processes += [Process("client: consoles and crews", people), Process("client: calls and GPS", devices)]
        opened = time.monotonic()
        ready = read_line(people, args.connect_wait + 60).split()
        read_line(devices, 60)
        connected, streams = int(ready[1]), int(ready[2])
        print(f"  streams open before the load: {connected} of {streams} ({time.monotonic() - opened:.1f} s)")
        engine = sa.create_engine(pg.url)
        with engine.connect() as conn:
            start_id = int(conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM live_events")).scalar_one())
        before = usage(processes, pg)
        began = time.time()
        until = began + args.seconds
        for process in (people, devices):
            assert process.stdin is not None
            process.stdin.write(f"GO {until}\n".encode())
            process.stdin.flush()
        at_kill: dict[str, Any] = {}
        if centre.cluster is not None:  # HOOK (issue 15): the node killed mid-run
            time.sleep(max(0.0, began + args.seconds / 2 - time.time()))
            at_kill = usage(processes, pg)
            victim = centre.cluster.nodes[0]
            victim.kill()
            print(f"  … node {victim.name} killed (SIGKILL, gunicorn and scheduler) {time.time() - began:.0f} s in")
        time.sleep(max(0.0, until - time.time()))
        after = usage(processes, pg)
        for what in ("cpu", "rss"):  # the killed node's processes: as they were when killed
            after[what] = {**at_kill.get(what, {}), **after[what]}
        for process in (devices, people):
            try:
                process.wait(args.request_timeout + 60)
            except subprocess.TimeoutExpired:
                process.kill()
        people_result = pickle.loads((work / "people.pickle").read_bytes())
        devices_result = pickle.loads((work / "devices.pickle").read_bytes())
        outcome = Outcome(setup.label)
        if connected < streams:
            outcome.findings.append(
                f"{streams - connected} of {streams} streams did not open in {args.connect_wait:g} s"
            )
            if kind == "gthread" and each.isdigit():
                outcome.findings.append(
                    f"each open stream holds one of the {workers} × {each} = {workers * int(each)} threads for good "
                    f"({connected} open); a worker whose threads all hold streams answers nothing else: its "
                    "requests and the streams still waiting time out"
                )
        report_requests(outcome, people_result, devices_result)
        report_streams(outcome, engine, people_result["streams"], start_id, until)
        report_lost(outcome, engine, people_result["acked"], devices_result["acked"])
        report_usage(before, after, args.seconds)
        report_log(outcome, centre.logs)
        lags = people_result["lag"] + devices_result["lag"]
        if lags:
            print(
                f"  client event loops: late by p99 {1e3 * float(np.percentile(lags, 99)):.0f} ms, max "
                f"{1e3 * max(lags):.0f} ms (large: the client, not the centre, would be the bottleneck)"
            )
        engine.dispose()
        return outcome
    finally:
        for process in reversed(processes):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.popen.wait(20)
            except subprocess.TimeoutExpired:
                process.popen.kill()
        if centre is not None and centre.cluster is not None:
            centre.cluster.stop()
        logs.close()
        pg.drop()
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Running:
    """The centre under test: its URL, the processes to measure, and where they log."""

    url: str
    processes: list[Process]
    logs: list[Path]
    cluster: Any = None  # tests/cluster.py's Cluster, with --nodes 2


def one_node(command: list[str], env: dict[str, str], logs: Any, log: Path) -> Running:
    """`gunicorn wsgi:app` (gunicorn.conf.py) and `warroom scheduler`, as on one machine."""
    port = free_port()
    command = [*command, "-b", f"127.0.0.1:{port}", "wsgi:app"]
    processes = [
        Process(name, subprocess.Popen(argv, env=env, cwd=REPO, stdout=logs, stderr=logs))
        for name, argv in (("gunicorn", command), ("scheduler", [sys.executable, "-m", "cad.cli", "scheduler"]))
    ]
    return Running(f"http://127.0.0.1:{port}", processes, [log])


def two_nodes(args: argparse.Namespace, setup: Setup, env: dict[str, str], work: Path) -> Running:
    """Two nodes (gunicorn + scheduler each) on the one database behind HAProxy running
    deploy/haproxy.cfg (tests/cluster.py); each node gets the road cache already imported."""
    from cluster import start_cluster

    nodes = work / "nodes"
    for name in "ab":
        shutil.copytree(work / "roads", nodes / f"node-{name}" / "roads")
    shared = {key: env[key] for key in ("WARROOM_ROADS", "TWILIO_AUTH_TOKEN", "WARROOM_INTAKE_TOKEN")}
    if setup.worker_class:
        shared["WARROOM_WORKER_CLASS"] = setup.worker_class
    cluster = start_cluster(env["DATABASE_URL"], nodes, nodes=2, workers=args.node_workers, env=shared, upgrade=False)
    processes = []
    for node in cluster.nodes:
        processes += [
            Process(f"node {node.name} gunicorn", node.web),
            Process(f"node {node.name} scheduler", node.scheduler),
        ]
    processes.append(Process("haproxy", cluster.balancer.process))
    logs = [log for node in cluster.nodes for log in (node.web_log, node.scheduler_log)] + [cluster.balancer.log]
    return Running(cluster.url, processes, logs, cluster)


def seed(settings: Settings, args: argparse.Namespace, setup: Setup, number: int) -> dict[str, Any]:
    """The demo city grown to `--units` units, a crew user per unit, the consoles' users: the plan."""
    rng = random.Random(args.seed)
    app = create_app({}, settings=settings)
    with app.app_context():
        seed_demo(db.session, str(ROADS))
        grow_fleet(db.session, args.units, rng)
        keys = issue_simulator_keys(db.session)
        consoles = []
        for n in range(setup.consoles):
            role = Role.CALL_TAKER if n % 2 == 0 else Role.DISPATCHER
            token = new_token("wr")
            db.session.add(
                User(
                    username=f"console-{n:03d}",
                    display_name=f"Console {n}",
                    role=role,
                    api_token_hash=hash_token(token),
                    created_at=datetime.now(UTC),
                )
            )
            consoles.append({"role": str(role), "token": token})
        db.session.commit()
        units = db.session.execute(sa.select(Unit.id, Unit.lat, Unit.lon).order_by(Unit.id)).all()
    close_app(app)
    points, _ = road_points(str(ROADS))
    places = [(p.lat, p.lon) for p in rng.sample(points, min(2000, len(points)))]
    crew_units = [u.id for u in units][: setup.crews]
    return {
        "run": f"{number}{int(time.time())}",
        "seed": args.seed,
        "api_token": keys.api_token,
        "intake_token": settings.shared_intake_token(),
        "twilio_token": TWILIO,
        "consoles": consoles,
        "crews": [{"unit_id": u, "token": keys.crews[u]} for u in crew_units],
        "devices": [{"unit_id": u.id, "token": keys.devices[u.id], "lat": u.lat, "lon": u.lon} for u in units],
        "places": places,
        "calls_per_s": args.calls_per_min / 60,
        "text_share": args.text_share,
        "incident_share": args.incident_share,
        "hold_s": args.hold,
        "gps_every_s": args.gps_every,
        "board_every_s": args.board_every,
        "request_timeout_s": args.request_timeout,
        "stream_read_timeout_s": 45.0,  # the centre sends a keep-alive every 15 s
        "connect_wait_s": args.connect_wait,
        "drain_s": 10.0,  # after the load, for the last events to arrive: missing = not there by then
    }


def grow_fleet(session: Any, total: int, rng: random.Random) -> None:
    """More units like the demo's, at the demo's stations, until there are `total`."""
    units = list(session.scalars(sa.select(Unit).order_by(Unit.id)))
    serial: dict[str, int] = defaultdict(int)
    for unit in units:
        serial[unit.callsign.split("-")[0]] += 1
    now = datetime.now(UTC)
    for n in range(total - len(units)):
        like = units[n % len(units)]
        prefix = like.callsign.split("-")[0]
        serial[prefix] += 1
        station = like.station
        lat, lon = (station.lat, station.lon) if station else (like.lat, like.lon)
        session.add(
            Unit(
                callsign=f"{prefix}-{serial[prefix]:03d}",
                type=like.type,
                agency_id=like.agency_id,
                station_id=like.station_id,
                capabilities=list(like.capabilities),
                crew_size=like.crew_size,
                status_changed_at=now,
                lat=lat + rng.uniform(-0.003, 0.003),
                lon=lon + rng.uniform(-0.003, 0.003),
                position_at=now,
                position_accuracy_m=8.0,
            )
        )
    session.commit()


def gunicorn_config(gunicorn: Process) -> tuple[str, int, str]:
    """What gunicorn runs: the worker class given on its command line, else gunicorn.conf.py's as
    read with the master's environment; the workers it has."""
    workers = len(gunicorn.pids()) - 1
    probe = (
        "import runpy; c = runpy.run_path('gunicorn.conf.py'); "
        "print(*(c.get(k, d) for k, d in (('worker_class', 'sync'), ('threads', 1), ('worker_connections', 1000))))"
    )
    env = {**os.environ, **environment_of(gunicorn.popen.pid)}
    said = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True).stdout
    kind, threads, connections = ([*said.split(), "?", "?", "?"])[:3]
    argv = Path(f"/proc/{gunicorn.popen.pid}/cmdline").read_bytes().split(b"\0")
    if b"--worker-class" in argv:
        kind = argv[argv.index(b"--worker-class") + 1].decode()
    return kind, workers, threads if kind == "gthread" else connections


def environment_of(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode(errors="replace").split("=", 1) for p in pairs if b"=" in p)


def start_load(side: str, plan: Path, logs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(LOAD), side, str(plan)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=logs,
    )


def read_line(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    if not ready:
        raise RuntimeError("a load process did not get ready; see its log")
    line = process.stdout.readline().decode()
    if not line:
        raise RuntimeError(f"a load process ended (exit {process.wait()}); see its log")
    return line


# --- what the run shows --------------------------------------------------------------------


def usage(processes: list[Process], cluster: DisposablePostgres) -> dict[str, Any]:
    """CPU seconds so far per process (gunicorn's master and each worker apart), and the machine's."""
    seen: dict[str, float] = {}
    memory: dict[str, float] = {}
    for process in processes:
        pids = process.pids()
        if not pids:  # gone (a node killed): its figures are those taken when it was killed
            continue
        if process.name.endswith("gunicorn"):
            seen[f"{process.name} master"] = cpu_or_0(pids[0])
            memory[f"{process.name} master"] = rss_or_0(pids[0])
            for pid in pids[1:]:
                seen[f"{process.name} worker {pid}"] = cpu_or_0(pid)
                memory[f"{process.name} worker {pid}"] = rss_or_0(pid)
        else:
            seen[process.name] = process.cpu()
            memory[process.name] = process.rss()
    pg = postgres_pids(cluster.version, cluster.name)
    return {
        "cpu": seen,
        "rss": memory,
        "pg": {pid: cpu_or_0(pid) for pid in pg},
        "pg_rss": sum(rss_or_0(pid) for pid in pg),
        "machine": machine_busy_s(),
    }


def report_usage(before: dict[str, Any], after: dict[str, Any], seconds: float) -> None:
    print("  CPU over the load (cores) and memory at its end (RSS):")
    for name, used in after["cpu"].items():
        gone = name not in before["cpu"]
        cores = (used - before["cpu"].get(name, 0.0)) / seconds
        note = "  (started during the run: a replaced worker)" if gone and " worker " in name else ""
        print(f"    {name:<28} {cores:5.2f}  {after['rss'][name]:6.0f} MB{note}")
    replaced = [n for n in before["cpu"] if " worker " in n and n not in after["cpu"]]
    if replaced:
        print(f"    gunicorn workers gone during the run: {len(replaced)}")
    pg = sum(cpu - before["pg"].get(pid, 0.0) for pid, cpu in after["pg"].items())
    name = "PostgreSQL (all processes)"
    print(f"    {name:<28} {pg / seconds:5.2f}  {after['pg_rss']:6.0f} MB (shared memory counted in each)")
    machine = (after["machine"] - before["machine"]) / seconds
    print(f"    {'the whole machine':<28} {machine:5.2f}  of {os.cpu_count()} (other engineers' work included)")


#: What the centre's processes say when they are in trouble, and how the bench names it.
TROUBLE = {
    "QueuePool limit": "database pool exhausted (SQLAlchemy QueuePool timeout)",
    "WORKER TIMEOUT": "gunicorn killed a worker that stopped answering (WORKER TIMEOUT)",
    "Traceback": "tracebacks",
    "too many clients": "PostgreSQL refused connections (too many clients)",
    "live events not read": "event poller could not read live_events",
}


def report_log(outcome: Outcome, logs: list[Path]) -> None:
    """Trouble the centre's processes logged during the run, counted by kind."""
    text = "".join(log.read_text(errors="replace") for log in logs if log.exists())
    seen = {name: text.count(needle) for needle, name in TROUBLE.items() if needle in text}
    if seen:
        said = "; ".join(f"{name}: {n}" for name, n in seen.items())
        print(f"  the centre's log: {said}")
        outcome.findings.append(f"the centre logged {said}")
    else:
        print("  the centre's log: no errors")


def percentile_ms(samples: Any, q: int) -> float:
    return nearest_rank(sorted(samples), q) * 1e3 if len(samples) else float("nan")


def report_requests(outcome: Outcome, *results: dict[str, Any]) -> None:
    """API latency per kind of request (timeouts counted at the time they took) and the failures."""
    by_kind: dict[str, list[tuple[float, int | str]]] = defaultdict(list)
    for result in results:
        for kind, _, latency_s, status in result["requests"]:
            by_kind[kind].append((latency_s, status))
    print(f"  {'request':<16} {'n':>6} {'2xx':>6} {'4xx':>5} {'failed':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    everything: list[float] = []
    failed_total, causes = 0, defaultdict(int)
    for kind in sorted(by_kind):
        rows = by_kind[kind]
        latencies = [latency for latency, _ in rows]
        everything += latencies
        ok = sum(1 for _, s in rows if isinstance(s, int) and 200 <= s < 400)
        refused = sum(1 for _, s in rows if isinstance(s, int) and 400 <= s < 500)
        failed = len(rows) - ok - refused
        failed_total += failed
        for _, s in rows:
            if not (isinstance(s, int) and s < 500):
                causes[str(s)] += 1
        print(
            f"  {kind:<16} {len(rows):>6} {ok:>6} {refused:>5} {failed:>6} {percentile_ms(latencies, 50):>8.1f} "
            f"{percentile_ms(latencies, 95):>8.1f} {1e3 * max(latencies):>8.0f}"
        )
    print(
        f"  {'all':<16} {len(everything):>6} {'':>6} {'':>5} {failed_total:>6} {percentile_ms(everything, 50):>8.1f} "
        f"{percentile_ms(everything, 95):>8.1f}"
    )
    if failed_total:
        why = ", ".join(f"{k} {v}" for k, v in sorted(causes.items(), key=lambda kv: -kv[1]))
        print(f"  requests failed: {failed_total} ({why}); 4xx are the domain refusing (a call hung up, a unit taken)")
        outcome.findings.append(f"{failed_total} of {len(everything)} requests failed ({why})")
    outcome.failed = failed_total


def report_streams(
    outcome: Outcome, engine: sa.Engine, streams: list[dict[str, Any]], start_id: int, until: float
) -> None:
    """Every stream against live_events: the events made during the load that it may see."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id, kind, data, at FROM live_events WHERE id > :start ORDER BY id"), {"start": start_id}
        ).all()
    rows = [r for r in rows if r.at.timestamp() <= until]
    ids = np.array([r.id for r in rows], dtype=np.int64)
    at = np.array([r.at.timestamp() for r in rows])
    of_unit: dict[int, list[int]] = defaultdict(list)
    for n, r in enumerate(rows):
        data = r.data if isinstance(r.data, dict) else json.loads(r.data)
        owners = {data.get("unit_id"), data.get("id") if r.kind == "unit" else None} - {None}
        for unit in owners:
            of_unit[int(unit)].append(n)
    delays: dict[str, list[np.ndarray]] = defaultdict(list)
    complete: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    opened: dict[str, int] = defaultdict(int)
    missed: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # by kind, in streams that opened
    missed_ids: dict[str, set[int]] = defaultdict(set)
    missing_total: dict[str, int] = defaultdict(int)
    duplicates = reconnects = foreign = 0
    reached: set[int] = set()  # every event id any stream received
    for stream in streams:
        group = "crew" if stream["role"] == "crew" else "console"
        count[group] += 1
        opened[group] += stream["connected_at"] is not None
        got = np.frombuffer(stream["ids"], dtype=np.int64)
        times = np.frombuffer(stream["times"], dtype=np.float64)
        unique, first = np.unique(got, return_index=True)
        reached.update(unique.tolist())
        duplicates += len(got) - len(unique)
        reconnects += max(0, stream["connects"] - 1)
        expected = np.arange(len(ids)) if group == "console" else np.array(of_unit.get(stream["unit_id"], []), int)
        if group == "crew":
            mine = ids[expected] if len(expected) else np.array([], np.int64)
            foreign += int(np.isin(unique[np.isin(unique, ids)], mine, invert=True).sum())
        want = ids[expected] if len(expected) else np.array([], np.int64)
        found = np.isin(want, unique)
        missing = int((~found).sum())
        missing_total[group] += missing
        for k in expected[~found].tolist() if stream["connected_at"] is not None else ():
            missed[group][rows[k].kind] += 1
            missed_ids[group].add(rows[k].id)
        if missing == 0 and stream["connected_at"] is not None:
            complete[group] += 1
        if found.any():
            where = np.searchsorted(unique, want[found])
            delays[group].append(times[first[where]] - at[expected[found]])
    print(
        f"  events made during the load: {len(ids)} (live_events); delivery = arrival at the stream − the event's "
        "`at` (the centre's stamp when it made the change)"
    )
    for group in ("console", "crew"):
        if not count[group]:
            continue
        samples = np.concatenate(delays[group]) if delays[group] else np.array([])
        highest = f"{1e3 * samples.max():.0f}" if len(samples) else "-"
        print(
            f"  {group} streams: {opened[group]} of {count[group]} opened, {complete[group]} got every event they "
            f"should ({missing_total[group]} deliveries missing); delivery p50 {percentile_ms(samples, 50):.0f} ms "
            f"p95 {percentile_ms(samples, 95):.0f} ms max {highest} ms (n={len(samples)})"
        )
        if missed[group]:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(missed[group].items(), key=lambda kv: -kv[1]))
            nowhere = len(missed_ids[group] - reached)
            print(
                f"    missed by streams that were open: {kinds}; {len(missed_ids[group])} distinct events, "
                f"{nowhere} of them reached no stream at all (committed after the streams closed, or never sent)"
            )
        if complete[group] < count[group]:
            outcome.findings.append(
                f"{count[group] - complete[group]} of {count[group]} {group} streams did not get every event "
                f"({count[group] - opened[group]} never opened; {missing_total[group]} deliveries missing)"
            )
    print(f"  reconnects {reconnects}, duplicate ids {duplicates}, events a crew heard of another unit {foreign}")
    if foreign:
        outcome.findings.append(f"crews heard {foreign} events of other units")


def report_lost(outcome: Outcome, engine: sa.Engine, *acks: dict[str, list[Any]]) -> None:
    """Whatever the centre answered 2xx must be on record."""
    acked: dict[str, list[Any]] = defaultdict(list)
    for ack in acks:
        for what, values in ack.items():
            acked[what] += values
    with engine.connect() as conn:

        def on_record(query: str) -> set[Any]:
            return {tuple(r) if len(r) > 1 else r[0] for r in conn.execute(sa.text(query))}

        calls = on_record("SELECT sip_call_id FROM calls WHERE sip_call_id IS NOT NULL")
        texts = on_record("SELECT external_id FROM messages WHERE external_id LIKE 'twilio:%'")
        fixes = {(u, round(t.timestamp() * 1000)) for u, t in on_record("SELECT unit_id, fix_at FROM positions")}
        assignments = on_record("SELECT id FROM assignments")
        incidents = on_record("SELECT id FROM incidents")
    lost = {
        "calls": [c for c in acked["calls"] if c not in calls],
        "texts": [t for t in acked["texts"] if f"twilio:{t}" not in texts],
        "GPS fixes": [f for f in acked["fixes"] if tuple(f) not in fixes],
        "incidents": [i for i in acked["incidents"] if i not in incidents],
        "assignments": [a for a in acked["assignments"] if a not in assignments],
    }
    answered = {
        "calls": len(acked["calls"]),
        "texts": len(acked["texts"]),
        "GPS fixes": len(acked["fixes"]),
        "incidents": len(acked["incidents"]),
        "assignments": len(acked["assignments"]),
    }
    total = sum(len(v) for v in lost.values())
    said = ", ".join(f"{k} {answered[k]}/{len(lost[k])}" for k in lost)
    print(f"  answered 2xx/lost: {said}; crew statuses taken {len(acked['statuses'])}")
    print(f"  LOST {total} {'PASS' if total == 0 else 'FAIL'}")
    if total:
        examples = "; ".join(f"{k}: {v[:3]}" for k, v in lost.items() if v)
        outcome.findings.append(f"LOST {total}: {examples}")
    outcome.lost = total


if __name__ == "__main__":
    sys.exit(main())
