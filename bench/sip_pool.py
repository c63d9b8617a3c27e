"""`bench/sip.py --pool N`: the pool of SIP agents behind Kamailio, beside one agent alone."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from _proc import cpu_s, free_block, rss_mb
from sip import (
    ROUTED,
    TARGET_HELD,
    TARGET_P95_MS,
    TARGET_RATE,
    Centre,
    Console,
    all_calls,
    latencies_ms,
    sipp_command,
)

from reports.stats import nearest_rank

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


@dataclass
class Run:
    calls: int
    answered: set[str] = field(default_factory=set)
    shed: int = 0
    moved: int = 0
    failed: int = 0
    other_codes: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0


def sipp_run(
    port: int, *, calls: int, rate: float, limit: int, hold_ms: int, workdir: Path, phone: str, wait: bool = True
) -> subprocess.Popen[str] | Run:
    folder = workdir / f"sipp-{phone}-{time.monotonic_ns()}"
    folder.mkdir()
    timeout_s = calls / rate + hold_ms / 1000 + 90
    command = sipp_command(
        ROUTED, port, calls=calls, rate=rate, limit=limit, hold_ms=hold_ms, phone=phone, timeout_s=timeout_s,
        extra=("-trace_logs", "-trace_err", "-trace_stat", "-stf", "stat.csv"),
    )  # fmt: skip
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    process.folder = folder  # type: ignore[attr-defined]
    process.calls = calls  # type: ignore[attr-defined]
    process.started = time.time()  # type: ignore[attr-defined]
    return finish(process) if wait else process


def finish(process: subprocess.Popen[str]) -> Run:
    process.wait()
    folder: Path = process.folder  # type: ignore[attr-defined]
    run = Run(process.calls, wall_s=time.time() - process.started)  # type: ignore[attr-defined]
    log = "".join(p.read_text(errors="replace") for p in folder.glob("*_logs.log"))
    run.answered = set(re.findall(r"ANSWERED (\S+)", log))
    run.shed = len(re.findall(r"SHED 503", log))
    run.moved = len(re.findall(r"MOVED 302", log))
    errors = "".join(p.read_text(errors="replace") for p in folder.glob("*_errors.log"))
    for code in re.findall(r"received 'SIP/2.0 (\d{3})", errors):
        run.other_codes[code] = run.other_codes.get(code, 0) + 1
    stat = (folder / "stat.csv").read_text().splitlines()
    row = dict(zip(stat[0].split(";"), stat[-1].split(";"), strict=False))
    run.failed = int(row["FailedCall(C)"])
    return run


def descendants(pid: int) -> list[int]:
    try:
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return children + [d for c in children for d in descendants(c)]


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes(centre_pid: int, supervisor_pid: int) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {"centre": [centre_pid], "supervisor": [supervisor_pid], "worker": [], "kamailio": []}
    for pid in descendants(supervisor_pid):
        cmd = command_of(pid)
        if "telephony.worker" in cmd:
            found["worker"].append(pid)
        elif "kamailio" in cmd:
            found["kamailio"].append(pid)
    return found


def sample(groups: dict[str, list[int]]) -> dict[int, tuple[float, float]]:
    out = {}
    for pids in groups.values():
        for pid in pids:
            try:
                out[pid] = (cpu_s(pid), rss_mb(pid))
            except (OSError, IndexError):
                continue
    return out


def ringing_now(url: str, token: str, phone: str) -> int:
    return sum(1 for c in all_calls(url, token) if c["phone"] == phone and c["state"] == "ringing")


def pct(values: list[float], q: int) -> float:
    return nearest_rank(sorted(values), q) if values else 0.0


def deaths(supervisor_log: str, pool_dir: Path, after: float) -> list[tuple[str, float | None]]:
    """Each worker death after `after` (epoch s) and how long until that worker answered again."""
    out: list[tuple[str, float | None]] = []
    for line in supervisor_log.splitlines():
        stamp = STAMP.match(line)
        if not stamp or " died (" not in line:
            continue
        died = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if died < after:
            continue
        port = re.search(r"port (\d+)", line)
        back = None
        if port:
            log = (pool_dir / f"worker-{port.group(1)}.log").read_text(errors="replace")
            for wl in log.splitlines():
                s = STAMP.match(wl)
                if s and "(UDP+TCP)" in wl:
                    t = datetime.strptime(s.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                    if t > died:
                        back = t - died
                        break
        out.append((line.split(" died")[0].split(": ", 1)[-1], back))
    return out


def run_pool_bench(args: argparse.Namespace) -> None:
    if shutil.which("kamailio") is None:
        raise SystemExit("kamailio is not installed: apt-get install kamailio")
    keep = args.keep
    with tempfile.TemporaryDirectory(prefix="warroom-bench-sip-pool-") as folder:
        workdir = Path(tempfile.mkdtemp(prefix="warroom-bench-sip-pool-")) if keep else Path(folder)
        if keep:
            print(f"working folder (kept): {workdir}", flush=True)
        centre = Centre(workdir, args.database_url)
        token = centre.start()
        console = Console(centre.url, token)
        console.start()
        lines: list[str] = []

        # --- the baseline: one agent on its own -------------------------------------
        single_port = free_block(1)
        agent = centre.spawn("sip", "--port", str(single_port), "--bind", "127.0.0.1")
        wait_for_log(workdir / f"sip-{len(centre.processes) - 1}.log", "(UDP+TCP)", agent)
        base_hold = int(args.baseline_s * 1000)
        held_run = sipp_run(
            single_port,
            calls=12,
            rate=30,
            limit=12,
            hold_ms=base_hold,
            workdir=workdir,
            phone="081100000010",
            wait=False,
        )
        time.sleep(args.baseline_s / 2)
        base_held = ringing_now(centre.url, token, "+6281100000010")
        base = finish(held_run)  # type: ignore[arg-type]
        time.sleep(1)
        base_rate = sipp_run(
            single_port,
            calls=int(TARGET_RATE * args.baseline_s),
            rate=TARGET_RATE,
            limit=3,
            hold_ms=100,
            workdir=workdir,
            phone="081100000011",
        )
        assert isinstance(base_rate, Run)
        time.sleep(2)
        base_lat = latencies_ms(all_calls(centre.url, token), console, "+6281100000011")
        agent.send_signal(15)
        agent.wait(20)
        lines.append(
            f"baseline, one pjsua2 agent alone: {base_held} calls held at once of 12 offered "
            f"({len(base.answered)} answered in the end, the rest refused 503 and on record as overflowed: "
            f"{base.other_codes or 'none'})"
        )
        lines.append(
            f"baseline, one agent: {TARGET_RATE:g} calls/s for {args.baseline_s:g} s: "
            f"{len(base_rate.answered)}/{base_rate.calls} answered, {base_rate.failed} failed; INVITE → visible "
            f"p50 {pct(base_lat, 50):.1f} ms, p95 {pct(base_lat, 95):.1f} ms"
        )

        # --- the pool ---------------------------------------------------------------------
        port = free_block(args.pool + 1)
        supervisor = centre.spawn("sip", "--workers", str(args.pool), "--port", str(port), "--bind", "127.0.0.1")
        supervisor_log = workdir / f"sip-{len(centre.processes) - 1}.log"
        pool_dir = workdir / "sip-pool"
        deadline = time.monotonic() + 120
        while sum(1 for p in pool_dir.glob("worker-*.log") if "(UDP+TCP)" in p.read_text(errors="replace")) < args.pool:
            if time.monotonic() > deadline or supervisor.poll() is not None:
                raise RuntimeError(supervisor_log.read_text(errors="replace")[-3000:])
            time.sleep(0.2)
        time.sleep(2)  # the proxy's OPTIONS probes have seen every agent
        groups = processes(centre.processes[0].pid, supervisor.pid)
        before = sample(groups)
        pool_started = time.time()
        rss_max: dict[int, float] = {}

        held = sipp_run(
            port,
            calls=args.calls,
            rate=30,
            limit=args.calls,
            hold_ms=int(args.hold * 1000),
            workdir=workdir,
            phone="081100000020",
            wait=False,
        )
        time.sleep(args.calls / 30 + args.hold / 2)
        held_at_once = ringing_now(centre.url, token, "+6281100000020")
        for pid, (_, rss) in sample(groups).items():
            rss_max[pid] = max(rss_max.get(pid, 0.0), rss)
        held_result = finish(held)  # type: ignore[arg-type]
        time.sleep(2)

        rate_run = sipp_run(
            port,
            calls=int(args.rate * args.duration),
            rate=args.rate,
            limit=max(8, args.pool * 2),
            hold_ms=100,
            workdir=workdir,
            phone="081100000021",
        )
        assert isinstance(rate_run, Run)
        time.sleep(3)
        calls = all_calls(centre.url, token)
        rate_recorded = {c["sip_call_id"] for c in calls if c["phone"] == "+6281100000021"}
        lat = latencies_ms(calls, console, "+6281100000021")

        flood_started = time.time()
        flood = sipp_run(
            port,
            calls=int(args.flood_rate * args.flood_s),
            rate=args.flood_rate,
            limit=int(args.flood_rate * args.flood_s),
            hold_ms=100,
            workdir=workdir,
            phone="081100000022",
        )
        assert isinstance(flood, Run)
        for pid, (_, rss) in sample(groups).items():
            rss_max[pid] = max(rss_max.get(pid, 0.0), rss)
        flood_recorded: set[object] = set()
        settle = time.monotonic() + 60
        while time.monotonic() < settle:  # the agents' couriers catch up; stop when nothing more arrives
            time.sleep(3)
            calls = all_calls(centre.url, token)
            now = {c["sip_call_id"] for c in calls if c["phone"] == "+6281100000022"}
            if now == flood_recorded and flood.answered <= now:
                break
            flood_recorded = now
        after = sample(groups)
        pool_wall = time.time() - pool_started
        died = deaths(supervisor_log.read_text(errors="replace"), pool_dir, flood_started)
        died_before = deaths(supervisor_log.read_text(errors="replace"), pool_dir, pool_started)
        centre.stop()

    backend = "PostgreSQL" if args.database_url and "postgres" in args.database_url else "SQLite"
    load = os.getloadavg()
    print(
        f"SIP pool bench: {args.pool} pjsua2 agents behind Kamailio, centre on {backend}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (other work shares the machine)"
    )
    for line in lines:
        print(line)
    print(
        f"pool: simultaneous calls held: {held_at_once} ringing at once mid-hold of {args.calls} offered, each held "
        f"{args.hold:g} s; {len(held_result.answered)} answered, {held_result.shed} shed, {held_result.moved} "
        f"redirected, {held_result.failed} failed → {'PASS' if held_at_once >= TARGET_HELD else 'FAIL'} "
        f"(target ≥ {TARGET_HELD} held {args.hold:g} s)"
    )
    rate_ok = rate_run.failed == 0 and len(rate_run.answered) == rate_run.calls and rate_run.answered <= rate_recorded
    print(
        f"pool: {args.rate:g} new calls/s for {args.duration:g} s: {len(rate_run.answered)}/{rate_run.calls} answered, "
        f"{rate_run.failed} failed, {rate_run.shed} shed, {len(rate_run.answered & rate_recorded)} of the answered "
        f"on record → {'PASS' if rate_ok else 'FAIL'} (target ≥ {TARGET_RATE:g}/s for 60 s, 0 failures)"
    )
    print(
        f"pool: INVITE → visible on the console stream: p50 {pct(lat, 50):.1f} ms, p95 {pct(lat, 95):.1f} ms, "
        f"max {max(lat, default=0):.1f} ms over {len(lat)} calls → "
        f"{'PASS' if pct(lat, 95) < TARGET_P95_MS else 'FAIL'} (target p95 < {TARGET_P95_MS:g} ms)"
    )
    missing = flood.answered - flood_recorded
    backs = [b for _, b in died]
    print(
        f"pool: flood {args.flood_rate:g} calls/s for {args.flood_s:g} s ({flood.calls} calls): "
        f"{flood.shed} shed with 503 + Retry-After, {len(flood.answered)} got 200, {flood.moved} redirected, "
        f"{flood.failed} failed ({flood.other_codes or 'no other answers'}); {len(flood_recorded)} reached the "
        f"record, {len(missing)} answered calls missing from it; workers died: {len(died)}"
        + (f", back within {max(b or 99 for b in backs):.2f} s" if died else "")
        + f" → {'PASS' if not missing and all(b is not None and b < 2 for b in backs) else 'FAIL'}"
    )
    if len(died_before) > len(died):
        print(f"pool: workers died before the flood: {len(died_before) - len(died)}")
    for name, pids in groups.items():
        cpu = [100 * (after[p][0] - before[p][0]) / pool_wall for p in pids if p in after and p in before]
        rss = [rss_max.get(p, after.get(p, (0, 0))[1]) for p in pids]
        if not pids:
            continue
        each = f"{len(pids)} processes: " if len(pids) > 1 else ""
        print(
            f"CPU/memory {name}: {each}CPU {statistics.mean(cpu or [0]):.1f}% of one core each on average "
            f"(max {max(cpu or [0]):.1f}%) over the pool runs ({pool_wall:.0f} s); RSS "
            f"{statistics.mean(rss):.0f} MB each (max {max(rss):.0f} MB, total {sum(rss):.0f} MB)"
        )


def wait_for_log(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(log.read_text(errors="replace")[-2000:] if log.exists() else "no log")
        time.sleep(0.1)
