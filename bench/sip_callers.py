"""`bench/sip.py --callers`: what a caller gets from the default `warroom serve` setup (Kamailio in
front of its agents when installed), beside one pjsua2 agent on its own.

(a) the largest INVITE answered and on record with its location, over UDP and over TCP: one call
    per size, its PIDF-LO a polygon padded with vertices (simulator.city.pidf_lo_polygon);
(b) the share of callers refused at 5 and at 20 calls/s of 0.8 s calls (each rings first, as long
    as `warroom serve` lets it: WARROOM_SIP_RING_S), how many of them heard busy (486), and how many
    of the refused are on record.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _proc import free_block
from sip import REPO, Centre, all_calls, sipp_command
from sip_pool import Run, sipp_run, wait_for_log

from simulator.city import pidf_lo_polygon

BIG = REPO / "tests" / "e2e" / "sipp" / "call_routed_pidf.xml"
PLACE = (-1.2650, 116.8400)
#: The INVITE around the PIDF-LO (headers, SDP offer, multipart frame), bytes.
FRAME = 700
SIZES = (2000, 3000, 3500, 3750, 4000, 4250, 4500, 8000, 16000, 32000, 48000, 60000, 64000, 65000)
QUICK_SIZES = (3000, 3500, 3750, 4000, 4500, 8000, 32000, 60000, 65000)


@dataclass
class Sweep:
    largest: int = 0  # bytes of the largest INVITE answered and located
    first_lost: int = 0  # bytes of the smallest INVITE that was not


def big_call(port: int, transport: str, size: int, workdir: Path, url: str, token: str) -> tuple[int, bool]:
    """One call whose INVITE is about `size` bytes: (bytes sipp sent, answered and on record with its location)."""
    folder = workdir / f"big-{transport}-{size}-{time.monotonic_ns()}"
    folder.mkdir()
    pidf = pidf_lo_polygon(*PLACE, size - FRAME)
    command = sipp_command(
        BIG, port, calls=1, rate=1, limit=1, hold_ms=100, phone="081200000064", timeout_s=8,
        extra=("-t", transport, "-key", "pidf_body", pidf, "-trace_msg", "-trace_logs"),
    )  # fmt: skip
    # sipp stuck on a connection nobody answers (pjsua2 over TCP, a message too big): that call is lost
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=20)
    messages = "".join(p.read_text(errors="replace") for p in folder.glob("*_messages.log"))
    sent = re.search(r"message sent \((\d+) bytes\):\s*INVITE", messages)
    logs = "".join(p.read_text(errors="replace") for p in folder.glob("*_logs.log"))
    answered = re.findall(r"ANSWERED (\S+)", logs)
    located = False
    deadline = time.monotonic() + 4
    while answered and not located and time.monotonic() < deadline:
        located = any(
            c["sip_call_id"] == answered[0] and c["location"] is not None
            and abs(c["location"]["lat"] - PLACE[0]) < 1e-4  # type: ignore[index]
            for c in all_calls(url, token)
        )  # fmt: skip
        time.sleep(0.2)
    return (int(sent.group(1)) if sent else 0), located


def sweep(port: int, transport: str, sizes: tuple[int, ...], workdir: Path, url: str, token: str) -> Sweep:
    """Sizes in ascending order; stops after two lost in a row."""
    found = Sweep()
    lost_in_a_row = 0
    for size in sizes:
        sent, located = big_call(port, transport, size, workdir, url, token)
        if located:
            found.largest, lost_in_a_row = max(found.largest, sent), 0
        else:
            found.first_lost = found.first_lost or sent or size
            lost_in_a_row += 1
            if lost_in_a_row == 2:
                break
    return found


def lost(found: Sweep) -> str:
    return f"first lost: {found.first_lost:,} bytes" if found.first_lost else "none lost of the sizes tried"


def refused(run: Run, url: str, token: str, phone: str) -> str:
    """`refused 12.0% (36 of 300), busy 0, refused on record 36/36` for one sipp run."""
    calls = [c for c in all_calls(url, token) if c["phone"] == phone]
    turned_away = run.calls - len(run.answered)
    on_record = sum(1 for c in calls if c["state"] == "overflowed")
    busy = run.other_codes.get("486", 0)
    return (
        f"refused {100 * turned_away / run.calls:.1f}% ({turned_away} of {run.calls}), "
        f"busy (486) {busy}, refused on record {on_record}/{turned_away}"
    )


def run_callers_bench(args: argparse.Namespace) -> None:
    quick = args.quick
    sizes = QUICK_SIZES if quick else SIZES
    rate_s = 15.0 if quick else 60.0
    with tempfile.TemporaryDirectory(prefix="warroom-bench-sip-callers-") as folder:
        workdir = Path(folder)
        centre = Centre(workdir, args.database_url)
        centre.env.pop("WARROOM_SIP_RING_S")  # as `warroom serve` runs: each call rings its default 0.5 s
        serve_port = free_block(17)
        centre.env["WARROOM_SIP_PORT"] = str(serve_port)
        token = centre.start(sip=True)
        serve_log = workdir / "serve-0.log"
        wait_for_log(serve_log, "SIP:", centre.processes[0])
        setup = next(line for line in serve_log.read_text().splitlines() if line.startswith("SIP:"))
        proxied = "through Kamailio" in setup
        if proxied:
            workers = int(re.search(r"(\d+) pjsua2 agents", setup).group(1))  # type: ignore[union-attr]
            wait_for_log(workdir / "sip-pool" / "kamailio.log", "Listening on", centre.processes[0])
            for port in range(serve_port + 1, serve_port + 1 + workers):
                wait_for_log(workdir / "sip-pool" / f"worker-{port}.log", "(UDP+TCP)", centre.processes[0])
        else:
            wait_for_log(serve_log, "SIP agent on", centre.processes[0])
        time.sleep(2)  # the proxy's first OPTIONS round has seen every agent
        lone_port = free_block(1)
        lone = centre.spawn("sip", "--workers", "0", "--port", str(lone_port), "--bind", "127.0.0.1")
        wait_for_log(workdir / f"sip-{len(centre.processes) - 1}.log", "(UDP+TCP)", lone)

        lines = [f"default `warroom serve` setup: {setup}", "lone agent: one `warroom sip`, no proxy"]
        for transport, name in (("u1", "UDP"), ("t1", "TCP")):
            served = sweep(serve_port, transport, sizes, workdir, centre.url, token)
            alone = sweep(lone_port, transport, sizes, workdir, centre.url, token)
            lines.append(
                f"largest INVITE on record with its location over {name}: {served.largest:,} bytes through "
                f"`warroom serve` ({lost(served)}); lone agent {alone.largest:,} bytes ({lost(alone)})"
            )
        for rate, phone in ((5.0, "0812000005"), (20.0, "0812000020")):
            results = []
            for port, suffix in ((serve_port, "01"), (lone_port, "02")):
                run = sipp_run(
                    port, calls=int(rate * rate_s), rate=rate, limit=10000, hold_ms=800, workdir=workdir,
                    phone=phone + suffix,
                )  # fmt: skip
                assert isinstance(run, Run)
                time.sleep(3)
                results.append(refused(run, centre.url, token, f"+62{phone[1:]}{suffix}"))
            lines.append(
                f"{rate:g} calls/s of 0.8 s calls for {rate_s:g} s: `warroom serve` {results[0]}; "
                f"lone agent {results[1]}"
            )
        centre.stop()
    print("SIP callers: what a caller gets from the default `warroom serve` setup, beside one agent alone")
    for line in lines:
        print(line)
    if shutil.which("kamailio") is None:
        print("(kamailio is not installed: `warroom serve` runs one agent, so both columns are a lone agent)")
