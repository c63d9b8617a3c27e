"""`make bench-smoke`: short runs of the hot-path benchmarks, each figure against a baseline
measured in the same run, so a change that makes a path several times slower fails CI.

    python bench/smoke.py [--only routing,dispatch,gps,sip]

Each bench prints one line

    SMOKE <name> <figure> <baseline> ratio=<r> floor=<f> PASS|FAIL

and this runner exits 1 when any line says FAIL or a bench does not print its line (its
output's tail is shown then). The ratios, higher is better:

* routing: networkx doing incident <- 500 units / ours, CPU (bench/routing.py --smoke), floor
  15x (25-26x at load 8; three searches per query instead of one gave 12.5-13.6x);
* dispatch: a recommendation's CPU ranked by straight line / by road, 500 units on PostgreSQL,
  in one process (bench/dispatch.py --smoke), floor 0.4 (0.8 today; the clock was too noisy at
  load 8: its baseline doubled between runs);
* gps: single fixes through the centre / psycopg row by row (bench/gps.py --smoke), floor 0.8
  (issue 20's): 1.32x on a quiet machine (load 1.5, 2026-12-03 18:25 UTC, the fix writer's own
  connection and no session per fix); before those, 0.50-1.17x in four runs at load 3.6-8.7.
  The baseline swings 800-1,827/s between runs. A faster machine (2026-12-03 22:40 UTC): 1.32-1.36x;
  there the smoke's 300 devices reached their flood limit (429) until the bench raised it;
* sip: INVITE -> visible on a console's event stream / the same through the calls API, medians,
  one agent, 10 calls/s for 6 s (bench/sip.py --smoke), floor 0.2; every SIP call answered and
  on record, or FAIL. SIP adds the agent's screening, its journal and the courier's hop to the
  same storage, yet both medians were ~60 ms on a quiet machine (ratios 0.93-1.71, 2026-12-03
  22:31-23:40 UTC): most of either is the stream's 0.1 s gathering (cad/events.py), which also
  makes the API's median land at ~60 or ~105 ms from run to run; a courier made 0.4 s slower per
  entry gave 0.04 and FAIL.

A bench below its floor runs once more, and fails only when that run is below it too: one run
squeezed by other work on the machine is noise, a path made slower fails both (the routing and
GPS benches take seconds; the second run is what a failure costs).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


def benches() -> dict[str, list[str]]:
    found = {
        "routing": [str(BENCH / "routing.py"), "--smoke"],
        "dispatch": [str(BENCH / "dispatch.py"), "--smoke"],
        "gps": [str(BENCH / "gps.py"), "--smoke", "--floor", "0.8"],
        "sip": [str(BENCH / "sip.py"), "--smoke", "--floor", "0.2"],
    }
    return found


def run(name: str, command: list[str]) -> tuple[bool, str]:
    """(passed, what to print) of one bench: a second run when the first fails (see above)."""
    passed, text = run_once(name, command)
    if passed:
        return passed, text
    again, second = run_once(name, command)
    return again, f"{text}\n{second}  (run again: {'PASS, the first was noise' if again else 'FAIL twice'})"


def run_once(name: str, command: list[str]) -> tuple[bool, str]:
    """(passed, what to print) of one run of one bench."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(f"SMOKE {name}")]
    took = f"  ({name}: {time.perf_counter() - started:.0f} s)"
    if not lines:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
        return False, f"SMOKE {name} no figure (exit {done.returncode}) FAIL{took}\n{tail}"
    passed = done.returncode == 0 and all(line.rstrip().endswith("PASS") for line in lines)
    return passed, "\n".join(lines) + took


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated bench names (default: all)")
    args = parser.parse_args(argv)
    chosen = benches()
    wanted = [n for n in args.only.split(",") if n] or list(chosen)
    started = time.perf_counter()
    failed = []
    for name in wanted:
        if name not in chosen:
            print(f"unknown bench {name!r}; known: {', '.join(chosen)}", file=sys.stderr)
            return 2
        passed, text = run(name, chosen[name])
        print(text, flush=True)
        if not passed:
            failed.append(name)
    load = os.getloadavg()[0]
    print(
        f"bench-smoke: {len(wanted) - len(failed)} of {len(wanted)} passed in {time.perf_counter() - started:.0f} s "
        f"(load average {load:.1f})" + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
