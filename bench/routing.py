"""Benchmark of the routing package against networkx, with PASS/FAIL per target.

    python bench/routing.py [--extract PATH] [--runs N]
    python bench/routing.py --smoke [--floor 15]     (make bench-smoke: seconds, one SMOKE line)

Default extract: poa_osm.pbf in $WARROOM_DATA_DIR (default <repo>/../shared/data).
Measures, on the extract and on a graph four times larger (the extract tiled 2 x 2 and
joined by a few connector roads): extract import, cache load, incident <- 500 units,
one route with geometry (free and with congestion), 200 congestion readings, and peak
memory.

Both incident <- 500 units rows compare the same work on both sides:

* "full": ours is ``Router.travel_times_to`` (snap target and 500 units, one reverse
  search, each unit's ETA and road distance).  The networkx baseline snaps with the same
  snapper (routing's vectorised SegmentIndex), links the target's road position to the
  reversed graph by its partial edges, runs one ``nx.single_source_dijkstra`` (costs and
  paths) and sums each unit's path length, via the better end of its road.  The ETAs of
  both are cross-checked.
* "search only": ours is the reverse search ``travel_times_to`` runs (routing.search:
  scipy Dijkstra with predecessors from the target's virtual node), networkx's is
  ``nx.single_source_dijkstra_path_length`` on the reversed graph, both from the same
  target nodes (the graph node nearest each target's road position), no snapping, no
  distances.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import routing
from reports.stats import nearest_rank
from routing import RoadGraph, Router
from routing.geo import haversine_m
from routing.search import Links, search_to
from routing.snap import SegmentIndex

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("WARROOM_DATA_DIR", REPO.parent / "shared" / "data"))
PROFILE = "ambulance"
UNITS = 500


@dataclass
class Row:
    what: str
    times_s: list[float]
    baseline_s: list[float] | None = None
    target_ms: float | None = None
    min_speedup: float | None = None

    def cells(self) -> list[str]:
        med, p95 = _ms(statistics.median(self.times_s)), _ms(_p95(self.times_s))
        ratio = verdict = ""
        ok = True
        if self.baseline_s:
            speedup = statistics.median(self.baseline_s) / statistics.median(self.times_s)
            ratio = f"{speedup:6.1f}x (nx {_ms(statistics.median(self.baseline_s))} ms)"
            if self.min_speedup is not None:
                ok &= speedup >= self.min_speedup
        target = ""
        if self.target_ms is not None:
            target = f"< {self.target_ms:g} ms"
            ok &= statistics.median(self.times_s) * 1e3 < self.target_ms
        if self.min_speedup is not None:
            target += f"{', ' if target else ''}>= {self.min_speedup:g}x nx"
        if self.target_ms is not None or self.min_speedup is not None:
            verdict = "PASS" if ok else "FAIL"
        return [self.what, med, p95, ratio, target, verdict]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.3f}"


def _p95(values: Sequence[float]) -> float:
    return nearest_rank(sorted(values), 95)


def timed(fn: Callable[[], object], runs: int, clock: Callable[[], float] = time.perf_counter) -> list[float]:
    times = []
    for _ in range(runs):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def road_positions(graph: RoadGraph, rng: np.random.Generator, count: int) -> list[tuple[float, float]]:
    """Random points on roads (a uniform road, a uniform point of one of its segments)."""
    points = []
    for road in rng.integers(0, graph.road_count, count).tolist():
        lats, lons = graph.road_coordinates(road)
        k = int(rng.integers(0, len(lats) - 1))
        f = float(rng.random())
        points.append((float(lats[k] + f * (lats[k + 1] - lats[k])), float(lons[k] + f * (lons[k + 1] - lons[k]))))
    return points


def reversed_digraph(router: Router) -> nx.DiGraph:
    """The profile's usable edges reversed, with free-flow time `weight` and `length`."""
    graph = router.graph
    weights = router.free_flow_weights(PROFILE)
    usable = np.flatnonzero(np.isfinite(weights))
    reverse = nx.DiGraph()
    reverse.add_nodes_from(range(graph.node_count))
    reverse.add_edges_from(
        (head, tail, {"weight": weight, "length": length})
        for head, tail, weight, length in zip(
            graph.edge_head[usable].tolist(),
            graph.edge_tail[usable].tolist(),
            weights[usable].tolist(),
            graph.edge_length_m[usable].tolist(),
            strict=True,
        )
    )
    return reverse


class NetworkxTravelTimes:
    """The same work as ``Router.travel_times_to`` done with networkx (free flow): the
    same snapper, the target's road position linked by its partial edges, one reverse
    ``single_source_dijkstra`` (costs and paths), each unit's best end of its road and
    the road distance of its path."""

    def __init__(self, router: Router, reverse: nx.DiGraph) -> None:
        self.graph = router.graph
        self.reverse = reverse
        self.weights = router.free_flow_weights(PROFILE)
        self.everything = SegmentIndex(self.graph)
        self.usable = SegmentIndex(self.graph, routing.DEFAULT_PROFILES[PROFILE].road_mask(self.graph))

    def __call__(self, target: tuple[float, float], units: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
        g, w = self.graph, self.weights
        t = self.everything.snap(np.array([target[0]]), np.array([target[1]]))
        road, frac = int(t.road[0]), float(t.fraction[0])
        length = float(g.road_length_m[road])
        fwd, bwd = int(g.road_fwd_edge[road]), int(g.road_bwd_edge[road])
        for edge, node, share in ((fwd, int(g.road_start[road]), frac), (bwd, int(g.road_end[road]), 1.0 - frac)):
            if edge >= 0 and np.isfinite(w[edge]):
                self.reverse.add_edge("T", node, weight=share * float(w[edge]), length=share * length)
        try:
            dist, paths = nx.single_source_dijkstra(self.reverse, "T")
            return self._per_unit(dist, paths, road, frac, units)
        finally:
            self.reverse.remove_node("T")

    def _per_unit(
        self,
        dist: dict[object, float],
        paths: dict[object, list[object]],
        road: int,
        frac: float,
        units: Sequence[tuple[float, float]],
    ) -> list[tuple[float, float]]:
        g, w = self.graph, self.weights
        snaps = self.usable.snap(np.array([u[0] for u in units]), np.array([u[1] for u in units]))
        out = []
        for r, s in zip(snaps.road.tolist(), snaps.fraction.tolist(), strict=True):
            metres = float(g.road_length_m[r])
            best = (float("inf"), float("inf"), -1)  # (eta, metres before the path, path end)
            ends = ((g.road_fwd_edge[r], g.road_end[r], 1.0 - s), (g.road_bwd_edge[r], g.road_start[r], s))
            for edge, node, share in ends:
                if edge >= 0 and int(node) in dist:
                    eta = share * float(w[edge]) + dist[int(node)]
                    if eta < best[0]:
                        best = (eta, share * metres, int(node))
            if r == road:  # same road as the target: straight along it
                edge = g.road_fwd_edge[r] if s <= frac else g.road_bwd_edge[r]
                if edge >= 0 and abs(frac - s) * float(w[edge]) < best[0]:
                    best = (abs(frac - s) * float(w[edge]), abs(frac - s) * metres, -1)
            if best[2] < 0:
                out.append((best[0], best[1]))
                continue
            path = paths[best[2]]
            along = sum(self.reverse[a][b]["length"] for a, b in pairwise(path))
            out.append((best[0], best[1] + along))
        return out


def tile(graph: RoadGraph, connectors: int = 6) -> RoadGraph:
    """The graph tiled 2 x 2 (shifted copies side by side), joined by two-way primary
    connector roads between neighbouring tiles."""
    lat0, lon0, lat1, lon1 = graph.bbox
    dlat, dlon = (lat1 - lat0) + 0.002, (lon1 - lon0) + 0.002
    n, r = graph.node_count, graph.road_count
    shifts = [(i * dlat, j * dlon) for i in range(2) for j in range(2)]
    cat = np.concatenate
    node_lat = cat([graph.node_lat + a for a, _ in shifts])
    node_lon = cat([graph.node_lon + b for _, b in shifts])
    coord_lat = [graph.coord_lat + a for a, _ in shifts]
    coord_lon = [graph.coord_lon + b for _, b in shifts]
    c = len(graph.coord_lat)
    road_ptr = [graph.road_ptr[:-1] + k * c for k in range(4)]
    road_start = [graph.road_start + k * n for k in range(4)]
    road_end = [graph.road_end + k * n for k in range(4)]
    tails = [graph.edge_tail + k * n for k in range(4)]
    heads = [graph.edge_head + k * n for k in range(4)]
    edge_road = [graph.edge_road + k * r for k in range(4)]
    forward = [graph.edge_forward] * 4
    times = [graph.edge_time_s] * 4
    per_road = {
        name: [getattr(graph, name)] * 4
        for name in (
            "road_length_m",
            "road_way_id",
            "road_name",
            "road_highway",
            "road_service",
            "road_access",
            "road_width_m",
            "road_maxwidth_m",
            "road_maxweight_t",
            "road_maxheight_m",
        )
    }
    # Connectors between tiles (0,0)-(0,1), (1,0)-(1,1) east-west and (0,0)-(1,0), (0,1)-(1,1) north-south.
    primary = graph.highway_names.index("primary") if "primary" in graph.highway_names else 0
    speed = 40.0 / 3.6
    next_road, next_coord = 4 * r, 4 * c
    pairs = [(0, 1, "lon"), (2, 3, "lon"), (0, 2, "lat"), (1, 3, "lat")]
    for a, b, axis in pairs:
        across = graph.node_lat if axis == "lon" else graph.node_lon
        main = graph.node_lon if axis == "lon" else graph.node_lat
        bands = np.linspace(across.min(), across.max(), connectors + 1)
        for lo, hi in pairwise(bands):
            inside = np.flatnonzero((across >= lo) & (across <= hi))
            if not len(inside):
                continue
            u = int(inside[np.argmax(main[inside])]) + a * n
            v = int(inside[np.argmin(main[inside])]) + b * n
            length = float(haversine_m(node_lat[u], node_lon[u], node_lat[v], node_lon[v]))
            coord_lat.append(np.array([node_lat[u], node_lat[v]]))
            coord_lon.append(np.array([node_lon[u], node_lon[v]]))
            road_ptr.append(np.array([next_coord]))
            next_coord += 2
            road_start.append(np.array([u], dtype=np.int32))
            road_end.append(np.array([v], dtype=np.int32))
            for name, value in (
                ("road_length_m", length),
                ("road_way_id", -next_road),
                ("road_name", -1),
                ("road_highway", primary),
                ("road_service", 0),
                ("road_access", 0),
                ("road_width_m", np.nan),
                ("road_maxwidth_m", np.nan),
                ("road_maxweight_t", np.nan),
                ("road_maxheight_m", np.nan),
            ):
                per_road[name].append(np.array([value]))
            tails.append(np.array([u, v], dtype=np.int32))
            heads.append(np.array([v, u], dtype=np.int32))
            edge_road.append(np.array([next_road, next_road], dtype=np.int32))
            forward.append(np.array([True, False]))
            times.append(np.array([length / speed] * 2))
            next_road += 1
    tail, head = cat(tails), cat(heads)
    order = np.lexsort((head, tail))
    return RoadGraph(
        node_lat=node_lat,
        node_lon=node_lon,
        node_osm_id=np.arange(4 * n, dtype=np.int64),
        road_ptr=cat([*road_ptr, np.array([next_coord])]),
        coord_lat=cat(coord_lat),
        coord_lon=cat(coord_lon),
        road_start=cat(road_start),
        road_end=cat(road_end),
        **{name: cat(values) for name, values in per_road.items()},
        edge_tail=tail[order],
        edge_head=head[order],
        edge_road=cat(edge_road)[order],
        edge_forward=cat(forward)[order],
        edge_time_s=cat(times)[order],
        highway_names=graph.highway_names,
        service_names=graph.service_names,
        access_names=graph.access_names,
        names=graph.names,
        meta={"source": "tiled 2x2"},
    )


def _at_node(node: int) -> Links:
    return Links.cheapest([(node, 0.0, 0.0, -1, 0.0)])


def _nearest_node(graph: RoadGraph, lat: float, lon: float) -> int:
    return int(np.argmin(haversine_m(graph.node_lat, graph.node_lon, lat, lon)))


def _cross_check(
    router: Router, baseline: NetworkxTravelTimes, target: tuple[float, float], units: Sequence[tuple[float, float]]
) -> None:
    """Both sides compute the same thing: the ETAs agree (free flow)."""
    ours = router.travel_times_to(target, units, PROFILE)
    theirs = baseline(target, units)
    for mine, (eta, _) in zip(ours, theirs, strict=True):
        if not (mine.eta_s == eta or abs(mine.eta_s - eta) <= 1e-6 * max(1.0, abs(eta))):
            raise AssertionError(f"networkx baseline disagrees: {mine.eta_s} vs {eta}")


def smoke(extract: Path, floor: float, rounds: int = 8) -> int:
    """incident <- 500 units (full) against networkx doing the same work, in turns so both see the
    same noise: one SMOKE line, exit 1 below `floor` times networkx's speed."""
    with tempfile.TemporaryDirectory() as tmp:
        graph = routing.load_graph(routing.import_roads(extract, cache_dir=tmp))
    router = Router(graph, field_cache_mb=0)  # every query searches, as the full bench measures
    rng = np.random.default_rng(2025)
    points = road_positions(graph, rng, UNITS + 2 * 40)  # the full run's units and first targets
    units, targets = points[:UNITS], points[UNITS : UNITS + rounds]
    router.travel_times_to(targets[0], units, PROFILE)
    baseline = NetworkxTravelTimes(router, reversed_digraph(router))
    _cross_check(router, baseline, targets[0], units)
    ours: list[float] = []
    theirs: list[float] = []
    for target in targets:  # CPU of this thread: steadier than the clock on a shared machine
        ours += timed(lambda t=target: router.travel_times_to(t, units, PROFILE), 3, clock=time.thread_time)
        theirs += timed(lambda t=target: baseline(t, units), 1, clock=time.thread_time)
    mine, nx_s = statistics.median(ours), statistics.median(theirs)
    ratio = nx_s / mine
    verdict = "PASS" if ratio >= floor else "FAIL"
    print(f"SMOKE routing {mine * 1e3:.2f}ms {nx_s * 1e3:.1f}ms ratio={ratio:.1f} floor={floor:g} {verdict}")
    return 0 if verdict == "PASS" else 1


def bench_graph(label: str, graph: RoadGraph, runs: int, nx_runs: int, rng: np.random.Generator) -> list[Row]:
    """The issue's targets hold on the Porto Alegre graph (1x); the 4x graph shows how the
    cost grows and is printed without a verdict."""
    judged = label == "1x"
    router = Router(graph, field_cache_mb=0)  # every query searches (a router keeps repeat targets')
    points = road_positions(graph, rng, UNITS + runs * 2)
    units = points[:UNITS]
    targets = points[UNITS : UNITS + runs]
    router.travel_times_to(targets[0], units, PROFILE)  # builds the profile's index once
    rows: list[Row] = []

    it = iter(targets * 2)
    ours = timed(lambda: router.travel_times_to(next(it), units, PROFILE), runs)
    reverse = reversed_digraph(router)
    baseline = NetworkxTravelTimes(router, reverse)
    _cross_check(router, baseline, targets[0], units)
    it_nx = iter(targets)
    theirs = timed(lambda: baseline(next(it_nx), units), nx_runs)
    rows.append(
        Row(
            f"{label}: incident <- {UNITS} units (full)",
            ours,
            theirs,
            target_ms=5.0 if judged else None,
            min_speedup=20.0 if judged else None,
        )
    )

    # The search alone (no snapping, no distances) from the same target nodes on both sides.
    nodes = [_nearest_node(graph, *router.snap(t)[0]) for t in targets[:nx_runs]]
    weights = router.free_flow_weights(PROFILE)[graph.rev_perm]
    it_search = iter(nodes * (runs // len(nodes) + 2))
    search = timed(lambda: search_to(graph, weights, _at_node(next(it_search))), runs)
    it_nodes = iter(nodes)
    theirs_search = timed(lambda: nx.single_source_dijkstra_path_length(reverse, next(it_nodes)), nx_runs)
    rows.append(Row(f"{label}: reverse search only", search, theirs_search))  # where the time goes; no target

    pairs = iter(list(zip(points[UNITS::2], points[UNITS + 1 :: 2], strict=False)) * 2)

    def one_route() -> None:
        origin, destination = next(pairs)
        with contextlib.suppress(routing.NoRoute):
            router.route(origin, destination, PROFILE)

    rows.append(Row(f"{label}: one route + geometry", timed(one_route, runs), target_ms=5.0 if judged else None))

    # 200 cameras spread over the network; a batch of 200 readings, then the first read.
    cameras = road_positions(graph, rng, 200)
    for i, (lat, lon) in enumerate(cameras):
        router.congestion.map_camera(f"CAM-{i}", lat, lon, radius_m=40)
    levels = ["slow", "heavy", "jam", "free"]
    batch = 0

    def apply_200() -> None:
        nonlocal batch
        batch += 1
        now = routing.utc_now()
        for i in range(200):
            router.congestion.apply_reading(f"CAM-{i}", levels[(i + batch) % 4], now)

    def apply_200_and_read() -> None:
        apply_200()
        router.congestion.state()

    rows.append(Row(f"{label}: apply 200 readings", timed(apply_200, runs), target_ms=1.0 if judged else None))
    rows.append(
        Row(f"{label}: 200 readings + live state", timed(apply_200_and_read, runs), target_ms=1.0 if judged else None)
    )
    rows.append(Row(f"{label}: one route, congestion live", timed(one_route, runs)))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extract", type=Path, default=DATA_DIR / "poa_osm.pbf")
    parser.add_argument("--runs", type=int, default=40, help="runs per measure of our code")
    parser.add_argument("--nx-runs", type=int, default=10, help="runs per networkx measure")
    parser.add_argument("--smoke", action="store_true", help="a short run for `make bench-smoke` (see above)")
    parser.add_argument("--floor", type=float, default=15.0, help="--smoke fails below this many times networkx")
    args = parser.parse_args(argv)
    if not args.extract.exists():
        print(f"extract not found: {args.extract} (use --extract or WARROOM_DATA_DIR)", file=sys.stderr)
        return 2
    if args.smoke:
        return smoke(args.extract, args.floor)
    rng = np.random.default_rng(2025)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cache = routing.import_roads(args.extract, cache_dir=tmp)
        import_s = time.perf_counter() - start
        rows.append(Row("extract import (build + write cache)", [import_s]))
        gc.collect()
        loads = timed(lambda: routing.load_graph(cache), 10)
        rows.append(Row("graph load from cache", loads, target_ms=1000.0))
        cache_bytes = cache.stat().st_size
        graph = routing.load_graph(cache)
    rows += bench_graph("1x", graph, args.runs, args.nx_runs, rng)
    start = time.perf_counter()
    big = tile(graph)
    tile_s = time.perf_counter() - start
    rows += bench_graph("4x", big, args.runs, max(3, args.nx_runs // 2), rng)
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    size = f"{graph.node_count:,} nodes, {graph.edge_count:,} edges; cache {cache_bytes / 1e6:.1f} MB"
    print(f"extract: {args.extract.name}  ({size})")
    print(f"4x graph: {big.node_count:,} nodes, {big.edge_count:,} edges (tiled in {tile_s:.2f} s)")
    print(
        f"profile: {PROFILE}; {args.runs} runs of ours, {args.nx_runs} of networkx (4x: fewer); {os.cpu_count()} CPUs"
    )
    header = ["measure", "median ms", "p95 ms", "vs networkx", "target", "result"]
    table = [header] + [row.cells() for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for k, line in enumerate(table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if k == 0:
            print("  ".join("-" * width for width in widths))
    print(f"peak memory (max RSS of this process, networkx graphs included): {maxrss_mb:.0f} MB")
    failed = [row.what for row in rows if row.cells()[-1] == "FAIL"]
    print("all targets met" if not failed else f"targets missed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
