"""Coverage benchmark: a coverage update and a move-up suggestion with 41 and with 400 units.

    python bench/coverage.py [--extract PATH] [--runs N] [--posts N]

The issue's goals, on the 4x graph of bench/routing.py (Porto Alegre tiled 2 x 2 and joined
by connector roads; its `tile` is reused): a coverage update < 200 ms and a move-up
suggestion < 2 s, with 41 and with 400 fire engines (routing.coverage, 240 s on live
weights).  Units and posts stand at random road positions (a fixed seed); a quarter of the
units are "committed" (left out), as after a busy hour.

Measured, median and p95 of `--runs` runs each:

* coverage update: ``CoverageEngine.coverage`` (snap the units, one multi-source Dijkstra);
* move-up, warm: ``CoverageEngine.move_ups`` with the posts' reach sets kept (the usual case:
  they are searched again only when the live weights change);
* move-up, cold: the same right after a congestion reading changed the weights, so the posts'
  reach sets are searched again too (the worst case a dispatcher meets).

Same-run comparison: the naive move-up, one whole coverage computation (one multi-source
Dijkstra) per (unit, post) move, on the 41-unit case; both must find the same best gain.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import routing
from reports.stats import nearest_rank
from routing import RoadGraph, Router
from routing.coverage import CoverageEngine

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("WARROOM_DATA_DIR", REPO.parent / "shared" / "data"))
PROFILE = "fire_engine"
TARGET_S = 240.0
LatLon = tuple[float, float]
GOAL_COVERAGE_MS = 200.0
GOAL_MOVE_UP_MS = 2000.0


def _bench_routing() -> ModuleType:
    """bench/routing.py as a module (its name is the routing package's, so by path)."""
    spec = importlib.util.spec_from_file_location("bench_routing", Path(__file__).with_name("routing.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_routing"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def _ms(values: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return nearest_rank(ordered, 50) * 1e3, nearest_rank(ordered, 95) * 1e3


def naive_best_gain(engine: CoverageEngine, units: list[LatLon], posts: list[LatLon]) -> float:
    """Every (unit, post) move by recomputing the whole coverage: one search per move."""
    before = engine.coverage(PROFILE, units, TARGET_S).covered_m
    best = 0.0
    for u in range(len(units)):
        for p in range(len(posts)):
            moved = [*units[:u], posts[p], *units[u + 1 :]]
            best = max(best, engine.coverage(PROFILE, moved, TARGET_S).covered_m - before)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extract", type=Path, default=DATA_DIR / "poa_osm.pbf")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--posts", type=int, default=0, help="candidate posts (default: 1 per 4 units, at least 8)")
    args = parser.parse_args(argv)
    if not args.extract.exists():
        print(f"extract not found: {args.extract} (use --extract or WARROOM_DATA_DIR)", file=sys.stderr)
        return 2
    bench_routing = _bench_routing()
    with tempfile.TemporaryDirectory() as tmp:
        graph: RoadGraph = routing.load_graph(routing.import_roads(args.extract, cache_dir=tmp))
    big = bench_routing.tile(graph)
    rng = np.random.default_rng(1710)
    router = Router(big)
    engine = CoverageEngine(router)
    cameras = bench_routing.road_positions(big, rng, 50)
    for i, (lat, lon) in enumerate(cameras):
        router.congestion.map_camera(f"CAM-{i}", lat, lon, radius_m=40)
    print(f"4x graph: {big.node_count:,} nodes, {big.edge_count:,} edges; profile {PROFILE}, target {TARGET_S:g} s")
    print(f"{os.cpu_count()} CPUs; {args.runs} runs per measure; a quarter of the units committed (left out)")
    header = f"{'measure':46} {'median ms':>10} {'p95 ms':>10}  {'goal':>9}  result"
    print(header)
    print("-" * len(header))
    failed = []
    readings = 0
    for fleet in (41, 400):
        spots = bench_routing.road_positions(big, rng, fleet)
        units = [spot for k, spot in enumerate(spots) if k % 4 != 3]  # the available ones
        posts = bench_routing.road_positions(big, rng, args.posts or max(8, fleet // 4))
        engine.coverage(PROFILE, units, TARGET_S)  # the profile's snapping index, once per process
        rows = []
        cover = bench_routing.timed(lambda: engine.coverage(PROFILE, units, TARGET_S), args.runs)  # noqa: B023
        rows.append((f"{fleet} units: coverage update", cover, GOAL_COVERAGE_MS))
        engine.move_ups(PROFILE, units, posts, TARGET_S)
        warm = bench_routing.timed(lambda: engine.move_ups(PROFILE, units, posts, TARGET_S), args.runs)  # noqa: B023

        def cold() -> None:
            nonlocal readings
            readings += 1
            level = ("slow", "heavy")[readings % 2]
            router.congestion.apply_reading(f"CAM-{readings % 50}", level, routing.utc_now())
            engine.move_ups(PROFILE, units, posts, TARGET_S)  # noqa: B023

        cold_times = bench_routing.timed(cold, args.runs)
        rows.append((f"{fleet} units, {len(posts)} posts: move-up (posts kept)", warm, GOAL_MOVE_UP_MS))
        rows.append((f"{fleet} units, {len(posts)} posts: move-up (weights changed)", cold_times, GOAL_MOVE_UP_MS))
        now, moves, _ = engine.move_ups(PROFILE, units, posts, TARGET_S)
        for what, times, goal in rows:
            med, p95 = _ms(times)
            ok = med < goal
            failed += [] if ok else [what]
            print(f"{what:46} {med:10.1f} {p95:10.1f}  {'< ' + format(goal, 'g'):>9}  {'PASS' if ok else 'FAIL'}")
        best = moves[0] if moves else None
        summary = f"  coverage {now.share:.1%} of {now.total_m / 1000:,.0f} km"
        if best is not None:
            summary += f"; best move: unit {best.unit} -> post {best.post}, +{best.gain_m / 1000:.2f} km"
        print(summary)
        if fleet == 41:
            start = time.perf_counter()
            naive = naive_best_gain(engine, units, posts)
            naive_s = time.perf_counter() - start
            ours = best.gain_m if best else 0.0
            if abs(naive - ours) > 1e-6 * max(1.0, naive):
                raise AssertionError(f"the naive search disagrees: best gain {naive} vs {ours}")
            med, _ = _ms(warm)
            pairs = len(units) * len(posts)
            print(
                f"{'41 units: naive move-up (1 search per move)':46} {naive_s * 1e3:10.1f} {'':>10}  "
                f"{'':>9}  {pairs} searches, same best gain; ours {naive_s * 1e3 / med:.0f}x faster"
            )
    print("all goals met" if not failed else f"goals missed: {', '.join(failed)}")
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
