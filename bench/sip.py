"""SIP intake benchmark: calls per second with zero failures, and INVITE → visible in the API.

    python bench/sip.py [--rate 20] [--duration 60] [--database-url URL] [--steps 30,40]
    python bench/sip.py --pool 21 [--hold 60] [--duration 60] [--flood-s 10]
    python bench/sip.py --callers [--quick]
    python bench/sip.py --smoke [--floor 0.2]

With `--callers` the default `warroom serve` setup (Kamailio in front of its agents when
installed) is measured beside one agent alone, in the same run: the largest INVITE answered and
on record with its location over UDP and over TCP, and the share of callers refused at 5 and at
20 calls/s of 0.8 s calls (none of them may hear busy). `--quick` takes a few minutes.

With `--pool N` the pool (`warroom sip --workers N`: Kamailio in front of N pjsua2 agents) is
measured through the proxy: simultaneous calls held, calls per second sustained with zero
failures, INVITE → visible latency, a flood at 200 calls/s (shed, on record, workers that
died), CPU and memory per process; one agent on its own, measured first in the same run,
is the baseline.

Starts, as separate processes, the centre (`warroom serve`, a fresh database) and one SIP
agent (`warroom sip`, pjsua2), then drives it with sipp: `--rate` calls per second for
`--duration` seconds (each call 100 ms of talk), then short steps at higher rates to show
where it stops. Latency is measured from the moment the agent stamped the INVITE
(`received_at`) to the moment the call reached a console subscribed to /api/v1/events.

`--smoke` is the guard `make bench-smoke` runs (~20 s): the same centre and agent, 10 calls/s for
6 s through SIP, and as its baseline in the same run the same number of calls at the same pace
through the calls API (`POST /api/v1/calls`, sent → visible on the same stream). It prints one
line starting `SMOKE sip` and exits 1 when the API's median latency over SIP's falls below
`--floor` (SIP several times slower than the path it adds a journal and a courier to), or when a
SIP call failed or is not on record.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from _proc import cpu_s, free_port, rss_mb

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "tests" / "e2e" / "sipp" / "call.xml"
ROUTED = REPO / "tests" / "e2e" / "sipp" / "call_routed.xml"
TARGET_RATE, TARGET_P95_MS, TARGET_HELD = 20.0, 200.0, 60
#: the API's median INVITE/POST → visible latency over SIP's: SIP adds the agent's screening, its
#: journal and the courier's hop to the same storage, so it is slower, but not several times
SMOKE_FLOOR = 0.2
SMOKE_RATE, SMOKE_S = 10.0, 6.0


class Centre:
    def __init__(self, instance: Path, database_url: str | None) -> None:
        self.instance = instance
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "WARROOM_INSTANCE": str(instance),
            "WARROOM_ROADS": "",
            "WARROOM_INTAKE_TOKEN": "bench-intake",
            "WARROOM_CENTRE_URL": self.url,
            "WARROOM_SIP_ALLOW": "127.0.0.1",
            "WARROOM_SIP_RING_S": "0.05",
        }
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.processes: list[subprocess.Popen[bytes]] = []

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cad.cli", *args], env=self.env, capture_output=True, text=True, check=True, cwd=REPO
        )
        return done.stdout.strip()

    def start(self, *, sip: bool = False) -> str:
        """`warroom serve` on a fresh database; `sip`: with its SIP intake, as `warroom serve` runs it."""
        self.cli("db", "upgrade")
        token = self.cli("users", "create", "--role", "call_taker", f"bench-{os.getpid()}").splitlines()[-1]
        self.spawn("serve", "--no-demo", "--no-sim" if sip else "--no-sip", "--port", str(self.port))
        self.wait_http()
        return token

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.instance / f"{args[0]}-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "cad.cli", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
        )
        self.processes.append(process)
        return process

    def wait_http(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/api/v1/health", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the centre did not start")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


class Console(threading.Thread):
    """A call-taker's console: the time each call first reached the event stream."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(daemon=True)
        self.response = requests.get(
            url + "/api/v1/events", headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=(5, None)
        )
        self.seen: dict[int, float] = {}

    def run(self) -> None:
        with contextlib.suppress(requests.RequestException):  # the centre stopped at the end of the run
            self._read()

    def _read(self) -> None:
        kind = ""
        for raw in self.response.iter_lines(decode_unicode=True):
            if raw.startswith("event: "):
                kind = raw[7:]
            elif raw.startswith("data: ") and kind == "call":
                data = json.loads(raw[6:])
                if data.get("state") == "ringing":
                    self.seen.setdefault(int(data["id"]), time.time())


def all_calls(url: str, token: str) -> list[dict[str, Any]]:
    """Every call on record, newest first, a page at a time."""
    calls: list[dict[str, Any]] = []
    query = "limit=1000"
    while True:
        page = requests.get(
            f"{url}/api/v1/calls?{query}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()
        calls += page
        if len(page) < 1000:
            return calls
        query = f"limit=1000&before_id={page[-1]['id']}"


def sipp_command(
    scenario: Path,
    port: int,
    *,
    calls: int,
    rate: float,
    limit: int,
    hold_ms: int,
    phone: str,
    timeout_s: float,
    extra: tuple[str, ...] = (),
) -> list[str]:
    """sipp placing `calls` bench calls from `phone` at `rate`/s, `limit` at once, each held `hold_ms`."""
    return [
        "sipp", "-sf", str(scenario), f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", "0",
        "-m", str(calls), "-r", str(rate), "-l", str(limit), "-d", str(hold_ms),
        "-key", "phone", phone, "-key", "caller_name", "bench", "-nostdin", "-timeout", f"{int(timeout_s)}s",
        *extra,
    ]  # fmt: skip


def latencies_ms(calls: list[dict[str, Any]], console: Console, phone: str) -> list[float]:
    """INVITE -> visible of each call from `phone` the console saw: from the agent's stamp
    (`received_at`) to the event's arrival, ms."""
    return [
        (console.seen[call["id"]] - datetime.fromisoformat(call["received_at"].replace("Z", "+00:00")).timestamp())
        * 1000
        for call in calls
        if call["phone"] == phone and call["id"] in console.seen
    ]


def start_agent(centre: Centre) -> tuple[int, subprocess.Popen[bytes], Path]:
    """`warroom sip`, one pjsua2 agent, beside the centre: (its SIP port, its process, its log)."""
    sip_port = free_port(socket.SOCK_DGRAM)
    agent = centre.spawn("sip", "--port", str(sip_port), "--bind", "127.0.0.1")
    log = centre.instance / f"sip-{len(centre.processes) - 1}.log"
    deadline = time.monotonic() + 30
    while "SIP agent on" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline or agent.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-2000:])
        time.sleep(0.1)
    return sip_port, agent, log


def post_calls(url: str, token: str, rate: float, duration_s: float, phone: str) -> dict[int, float]:
    """Calls through the calls API at `rate`/s for `duration_s`: call id -> when its POST was sent."""
    sent: dict[int, float] = {}
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    started = time.monotonic()
    for n in range(int(rate * duration_s)):
        time.sleep(max(0.0, started + n / rate - time.monotonic()))
        at = time.time()
        response = http.post(f"{url}/api/v1/calls", json={"phone": phone, "name": "bench"}, timeout=30)
        response.raise_for_status()
        sent[int(response.json()["id"])] = at
    return sent


def smoke(floor: float) -> int:
    """SIP INVITE -> visible against the calls API's POST -> visible, same centre, same run."""
    with tempfile.TemporaryDirectory(prefix="warroom-bench-sip-") as folder:
        workdir = Path(folder)
        centre = Centre(workdir, None)
        try:
            token = centre.start()
            sip_port, _agent, _log = start_agent(centre)
            console = Console(centre.url, token)
            console.start()
            sent = post_calls(centre.url, token, SMOKE_RATE, SMOKE_S, "081100000003")
            run = run_sipp(sip_port, SMOKE_RATE, SMOKE_S, workdir, "081100000001")
            time.sleep(1.0)
            calls = all_calls(centre.url, token)
        finally:
            centre.stop()
    api_ms = [(console.seen[i] - at) * 1000 for i, at in sent.items() if i in console.seen]
    sip_ms = latencies_ms(calls, console, "+6281100000001")
    recorded = sum(1 for c in calls if c["phone"] == "+6281100000001")
    if not api_ms or not sip_ms:
        print(f"SMOKE sip no latency measured (API {len(api_ms)}, SIP {len(sip_ms)} calls seen) FAIL")
        return 1
    api_median, sip_median = statistics.median(api_ms), statistics.median(sip_ms)
    ratio = api_median / sip_median
    sip_p95 = statistics.quantiles(sip_ms, n=20)[-1] if len(sip_ms) > 1 else sip_ms[0]
    whole = run["failed"] == 0 and run["successful"] == run["calls"] == recorded and len(api_ms) == len(sent)
    passed = ratio >= floor and whole
    print(
        f"SMOKE sip INVITE->visible median {sip_median:.1f} ms (p95 {sip_p95:.1f}) "
        f"calls-API {api_median:.1f} ms ratio={ratio:.2f} floor={floor:g} "
        f"calls {run['successful']}/{run['calls']} answered, {run['failed']} failed, {recorded} on record "
        f"{'PASS' if passed else 'FAIL'}"
    )
    return 0 if passed else 1


def run_sipp(port: int, rate: float, duration_s: float, workdir: Path, phone: str) -> dict[str, int]:
    calls = int(rate * duration_s)
    done = subprocess.run(
        sipp_command(
            SCENARIO,
            port,
            calls=calls,
            rate=rate,
            limit=3,  # a lone agent's three lines (its fourth refuses with 503)
            hold_ms=100,
            phone=phone,
            timeout_s=duration_s + 60,
            extra=("-trace_stat", "-stf", str(workdir / "stat.csv")),
        ),
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    lines = (workdir / "stat.csv").read_text().splitlines()
    header, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(header, last, strict=False))
    os.remove(workdir / "stat.csv")
    return {
        "calls": calls,
        "successful": int(row["SuccessfulCall(C)"]),
        "failed": int(row["FailedCall(C)"]),
        "sipp_exit": done.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=TARGET_RATE)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--steps", default="30,40,50", help="higher rates tried for 15 s each")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--pool", type=int, default=0, help="measure a pool of N agents behind Kamailio")
    parser.add_argument("--calls", type=int, default=TARGET_HELD, help="--pool: calls held at once")
    parser.add_argument("--hold", type=float, default=60.0, help="--pool: how long each of them is held, s")
    parser.add_argument("--flood-rate", type=float, default=200.0)
    parser.add_argument("--flood-s", type=float, default=10.0)
    parser.add_argument("--baseline-s", type=float, default=20.0, help="--pool: the single agent's runs, s")
    parser.add_argument("--keep", action="store_true", help="--pool: keep the working folder (logs) afterwards")
    parser.add_argument(
        "--callers",
        action="store_true",
        help="the default `warroom serve` setup beside a lone agent: largest INVITE located, callers refused",
    )
    parser.add_argument("--quick", action="store_true", help="--callers: fewer sizes, 15 s per rate (a few minutes)")
    parser.add_argument("--smoke", action="store_true", help="the guard of `make bench-smoke` (~20 s)")
    parser.add_argument("--floor", type=float, default=SMOKE_FLOOR, help="--smoke: the lowest API/SIP ratio")
    args = parser.parse_args()
    if args.smoke:
        raise SystemExit(smoke(args.floor))
    if args.callers:
        from sip_callers import run_callers_bench

        run_callers_bench(args)
        return
    if args.pool:
        from sip_pool import run_pool_bench

        run_pool_bench(args)
        return

    with tempfile.TemporaryDirectory(prefix="warroom-bench-sip-") as folder:
        workdir = Path(folder)
        centre = Centre(workdir, args.database_url)
        token = centre.start()
        sip_port, agent, log = start_agent(centre)
        console = Console(centre.url, token)
        console.start()
        server = centre.processes[0]
        cpu0 = {p.pid: cpu_s(p.pid) for p in (server, agent)}
        started = time.time()
        main_run = run_sipp(sip_port, args.rate, args.duration, workdir, "081100000001")
        wall = time.time() - started
        cpu1 = {p.pid: cpu_s(p.pid) for p in (server, agent)}
        time.sleep(2)
        calls = all_calls(centre.url, token)
        steps = []
        for step_rate in [float(r) for r in args.steps.split(",") if r]:
            steps.append((step_rate, run_sipp(sip_port, step_rate, 15, workdir, "081100000002")))
            time.sleep(2)
        latencies = latencies_ms(calls, console, "+6281100000001")
        recorded = sum(1 for c in calls if c["phone"] == "+6281100000001")
        rss = {name: rss_mb(p.pid) for name, p in (("centre (werkzeug)", server), ("SIP agent", agent))}
        centre.stop()
        agent_log = log.read_text(errors="replace")

    backend = "PostgreSQL" if args.database_url and "postgres" in args.database_url else "SQLite"
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    ok_rate = main_run["failed"] == 0 and main_run["successful"] == main_run["calls"]
    print(f"SIP intake, one pjsua2 agent, centre on {backend}, {os.cpu_count()} CPUs")
    print(
        f"sustained: {args.rate:g} calls/s for {args.duration:g} s (100 ms calls, ≤ 3 at once): "
        f"{main_run['successful']}/{main_run['calls']} answered, {main_run['failed']} failed, "
        f"{recorded} on record  → {'PASS' if ok_rate and recorded == main_run['calls'] else 'FAIL'} "
        f"(target {TARGET_RATE:g}/s for 60 s, 0 failures)"
    )
    print(
        f"INVITE → visible on the console stream: p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, max "
        f"{max(latencies, default=0):.1f} ms over {len(latencies)} calls → "
        f"{'PASS' if q[94] < TARGET_P95_MS else 'FAIL'} (target p95 < {TARGET_P95_MS:g} ms)"
    )
    for rate, result in steps:
        print(
            f"step {rate:g} calls/s for 15 s: {result['successful']}/{result['calls']} answered, "
            f"{result['failed']} failed"
        )
    for pid_name, (pid0, pid1) in zip(
        ("centre", "SIP agent"), zip(cpu0.values(), cpu1.values(), strict=True), strict=True
    ):
        print(f"CPU {pid_name}: {100 * (pid1 - pid0) / wall:.0f}% of one core during the sustained run")
    for name, mb in rss.items():
        print(f"memory {name}: {mb:.0f} MB RSS")
    aborted = len(re.findall(r"Assertion", agent_log))
    print(f"agent aborts: {aborted}")


if __name__ == "__main__":
    main()
