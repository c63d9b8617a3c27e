"""The router's travel times equal networkx's Dijkstra on the same edges (Porto Alegre)."""

import math
from itertools import pairwise

import networkx as nx
import numpy as np
import pytest

from routing import DEFAULT_PROFILES, RoadGraph, Router
from routing.snap import SegmentIndex

PROFILE = "ambulance"


@pytest.fixture(scope="module")
def router(poa_graph: RoadGraph) -> Router:
    return Router(poa_graph)


@pytest.fixture(scope="module")
def digraph(router: Router) -> nx.DiGraph:
    graph = router.graph
    weights = router.free_flow_weights(PROFILE)
    usable = np.flatnonzero(np.isfinite(weights))
    result = nx.DiGraph()
    result.add_weighted_edges_from(
        zip(graph.edge_tail[usable].tolist(), graph.edge_head[usable].tolist(), weights[usable].tolist(), strict=True)
    )
    return result


def node_position(graph: RoadGraph, node: int) -> tuple[float, float]:
    return (float(graph.node_lat[node]), float(graph.node_lon[node]))


def test_graph_size(poa_graph: RoadGraph) -> None:
    assert 13_000 < poa_graph.node_count < 16_000
    assert 30_000 < poa_graph.edge_count < 35_000


def test_node_to_node_one_to_many_matches_networkx(router: Router, digraph: nx.DiGraph) -> None:
    graph = router.graph
    rng = np.random.default_rng(7)
    nodes = np.array(sorted(digraph.nodes))
    reverse = digraph.reverse(copy=False)
    compared = 0
    for target in rng.choice(nodes, 5, replace=False).tolist():
        expected = nx.single_source_dijkstra_path_length(reverse, target)
        sources = rng.choice(nodes, 100, replace=False).tolist()
        results = router.travel_times_to(
            node_position(graph, target), [node_position(graph, s) for s in sources], PROFILE
        )
        for source, result in zip(sources, results, strict=True):
            if source in expected:
                assert result.eta_s == pytest.approx(expected[source], rel=1e-6, abs=1e-6)
                compared += 1
            else:
                assert result.eta_s == math.inf
    assert compared > 300  # the rest cannot reach the target (one-way islands, dead ends)


def test_node_to_node_distance_follows_the_same_path(router: Router, digraph: nx.DiGraph) -> None:
    graph = router.graph
    rng = np.random.default_rng(8)
    nodes = np.array(sorted(digraph.nodes))
    for _ in range(10):
        a, b = rng.choice(nodes, 2, replace=False).tolist()
        try:
            path = nx.dijkstra_path(digraph, a, b)
        except nx.NetworkXNoPath:
            continue
        metres = float(graph.edge_length_m[graph.find_edges(np.array(path[:-1]), np.array(path[1:]))].sum())
        [result] = router.travel_times_to(node_position(graph, b), [node_position(graph, a)], PROFILE)
        route = router.route(node_position(graph, a), node_position(graph, b), PROFILE)
        assert result.distance_m == pytest.approx(metres, rel=1e-6)
        assert route.distance_m == pytest.approx(metres, rel=1e-6)
        assert route.eta_s == pytest.approx(result.eta_s, rel=1e-9)


def _expected_snapped(router: Router, digraph: nx.DiGraph, target, sources) -> list[float]:
    """Snapped positions joined to a copy of the networkx graph by their partial edges
    (and to a road's node itself when they lie on it)."""
    graph = router.graph
    weights = router.free_flow_weights(PROFILE)
    everything = SegmentIndex(graph)
    usable = SegmentIndex(graph, DEFAULT_PROFILES[PROFILE].road_mask(graph))
    t = everything.snap(np.array([target[0]]), np.array([target[1]]))
    road, frac = int(t.road[0]), float(t.fraction[0])
    start, end = int(graph.road_start[road]), int(graph.road_end[road])
    g = digraph.copy()
    fwd, bwd = int(graph.road_fwd_edge[road]), int(graph.road_bwd_edge[road])
    entries = []
    if fwd >= 0 and math.isfinite(weights[fwd]):
        entries.append((start, frac * weights[fwd]))
    if bwd >= 0 and math.isfinite(weights[bwd]):
        entries.append((end, (1 - frac) * weights[bwd]))
    length = graph.road_length_m[road]
    if frac * length <= 0.01:
        entries.append((start, 0.0))
    if (1 - frac) * length <= 0.01:
        entries.append((end, 0.0))
    for node, weight in entries:
        old = g.get_edge_data(node, "T", {"weight": math.inf})["weight"]
        g.add_edge(node, "T", weight=min(old, weight))
    to_target = nx.single_source_dijkstra_path_length(g.reverse(copy=False), "T")
    snaps = usable.snap(np.array([s[0] for s in sources]), np.array([s[1] for s in sources]))
    expected = []
    for r, s in zip(snaps.road.tolist(), snaps.fraction.tolist(), strict=True):
        head, tail, metres = int(graph.road_end[r]), int(graph.road_start[r]), graph.road_length_m[r]
        options = []
        f, b = int(graph.road_fwd_edge[r]), int(graph.road_bwd_edge[r])
        if f >= 0:
            options.append((1 - s) * weights[f] + to_target.get(head, math.inf))
            if r == road and s <= frac:
                options.append((frac - s) * weights[f])
        if b >= 0:
            options.append(s * weights[b] + to_target.get(tail, math.inf))
            if r == road and s >= frac:
                options.append((s - frac) * weights[b])
        if s * metres <= 0.01:
            options.append(to_target.get(tail, math.inf))
        if (1 - s) * metres <= 0.01:
            options.append(to_target.get(head, math.inf))
        expected.append(min(options, default=math.inf))
    return expected


def random_positions(graph: RoadGraph, rng: np.random.Generator, count: int, jitter_deg: float = 0.0002):
    roads = rng.integers(0, graph.road_count, count)
    points = []
    for road in roads.tolist():
        lats, lons = graph.road_coordinates(road)
        k = int(rng.integers(0, len(lats) - 1))
        f = float(rng.random())
        points.append(
            (
                float(lats[k] + f * (lats[k + 1] - lats[k]) + rng.normal(0, jitter_deg)),
                float(lons[k] + f * (lons[k + 1] - lons[k]) + rng.normal(0, jitter_deg)),
            )
        )
    return points


def test_snapped_one_to_many_matches_networkx(router: Router, digraph: nx.DiGraph) -> None:
    rng = np.random.default_rng(9)
    for _ in range(3):
        target, *sources = random_positions(router.graph, rng, 101)
        results = router.travel_times_to(target, sources, PROFILE)
        expected = _expected_snapped(router, digraph, target, sources)
        for result, want in zip(results, expected, strict=True):
            if math.isfinite(want):
                assert result.eta_s == pytest.approx(want, rel=1e-6), result
            else:
                assert result.eta_s == math.inf


def test_snapped_routes_match_one_to_many(router: Router) -> None:
    rng = np.random.default_rng(10)
    points = random_positions(router.graph, rng, 20)
    for origin, destination in zip(points[::2], points[1::2], strict=True):
        [eta] = router.travel_times_to(destination, [origin], PROFILE)
        if eta.eta_s == math.inf:
            continue
        route = router.route(origin, destination, PROFILE)
        assert route.eta_s == pytest.approx(eta.eta_s, rel=1e-9)
        assert route.distance_m == pytest.approx(eta.distance_m, rel=1e-6)
        assert route.eta_free_flow_s == route.eta_s
        coordinates = route.geometry["coordinates"]
        steps = [math.dist(a, b) for a, b in pairwise(coordinates)]
        assert max(steps) < 0.01  # follows the roads: no jumps across town


def test_jam_on_the_best_route_changes_it(poa_graph: RoadGraph) -> None:
    router = Router(poa_graph)
    rng = np.random.default_rng(11)
    origin, destination = random_positions(poa_graph, rng, 2, jitter_deg=0.0)
    before = router.route(origin, destination, PROFILE)
    # Put a camera in the middle of the route and jam it.
    lon, lat = before.geometry["coordinates"][len(before.geometry["coordinates"]) // 2]
    router.congestion.map_camera("POA-1", lat, lon, radius_m=40)
    router.congestion.apply_reading("POA-1", "jam")
    after = router.route(origin, destination, PROFILE)
    assert after.eta_s > before.eta_s
    assert after.eta_free_flow_s == pytest.approx(before.eta_s)
    assert after.geometry != before.geometry
    assert after.congested_edges_avoided and all(e.camera == "POA-1" for e in after.congested_edges_avoided)
