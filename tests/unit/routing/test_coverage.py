"""Coverage and move-ups checked against a brute force on a small hand-made town: networkx
Dijkstra from each origin on its own, the road lengths summed road by road, and every
(unit, post) move tried by recomputing the whole coverage."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import networkx as nx
import numpy as np
import pytest

from routing import CongestionModel, Router
from routing.coverage import CoverageEngine, Districts, best_moves, parse_targets, uncovered_layer
from routing.geo import haversine_m

LAT0, LON0 = -5.1400, 119.4200
Spot = tuple[float, float]


def at(dlat: float, dlon: float) -> Spot:
    return (LAT0 + dlat, LON0 + dlon)


def town_parts() -> tuple[list[tuple[int, float, float]], list[tuple[int, list[int], dict[str, str]]]]:
    """A 5 x 5 grid (about 111 m blocks, a little crooked): rows residential, column 0 primary,
    column 2 one-way northward, column 4 a narrow alley no fire engine may enter."""
    rng = np.random.default_rng(7)
    nodes = []
    for i, j in itertools.product(range(5), range(5)):
        jitter = rng.uniform(-0.00015, 0.00015, 2)
        nodes.append((10 * i + j + 1, i * 0.001 + float(jitter[0]), j * 0.001 + float(jitter[1])))
    ways: list[tuple[int, list[int], dict[str, str]]] = []
    for i in range(5):
        ways.append((100 + i, [10 * i + j + 1 for j in range(5)], {"highway": "residential"}))
    column_tags = {
        0: {"highway": "primary"},
        1: {"highway": "residential"},
        2: {"highway": "residential", "oneway": "yes"},
        3: {"highway": "tertiary"},
        4: {"highway": "service", "service": "alley", "width": "2.2"},
    }
    for j, tags in column_tags.items():
        ways.append((200 + j, [10 * i + j + 1 for i in range(5)], tags))
    return nodes, ways


@pytest.fixture
def town(make_graph, clock) -> Router:
    nodes, ways = town_parts()
    graph = make_graph(nodes, ways)
    return Router(graph, congestion=CongestionModel(graph, clock=clock), clock=clock)


UNITS = [at(0.0, 0.0), at(0.002, 0.0015), at(0.004, 0.004), at(0.0031, 0.0029)]
POSTS = [at(0.001, 0.001), at(0.003, 0.003), at(0.002, 0.002), at(0.004, 0.0005)]
FAR_AWAY = at(0.05, 0.05)  # about 7 km off the town: outside the snap limit


# -- the brute force ---------------------------------------------------------------------------


def brute_times(router: Router, profile: str, origin: Spot) -> dict[int, float]:
    """Seconds from `origin` to every node it reaches: networkx on the live weights, the origin
    linked to its road's ends by the parts of its road it may drive."""
    g = router.graph
    w = router.live_weights(profile)
    free = router.free_flow_weights(profile)
    net = nx.DiGraph()
    net.add_nodes_from(range(g.node_count))
    for e in range(g.edge_count):
        if math.isfinite(w[e]):
            net.add_edge(int(g.edge_tail[e]), int(g.edge_head[e]), weight=float(w[e]))
    snaps = router.locate(np.array([origin[0]]), np.array([origin[1]]), profile)
    if not snaps.distance_m[0] <= router.snap_limit_m:
        return {}
    road, frac = int(snaps.road[0]), float(snaps.fraction[0])
    length = float(g.road_length_m[road])
    links: dict[int, float] = {}

    def link(node: int, cost: float) -> None:
        if math.isfinite(cost) and cost < links.get(node, math.inf):
            links[node] = cost

    for edge, share, node in (
        (int(g.road_fwd_edge[road]), 1.0 - frac, int(g.road_end[road])),
        (int(g.road_bwd_edge[road]), frac, int(g.road_start[road])),
    ):
        if edge >= 0 and math.isfinite(free[edge]):
            own = float(w[edge]) if math.isfinite(w[edge]) else float(free[edge])
            link(node, 0.0 if share <= 0 else share * own)
    if frac * length <= 0.01:
        link(int(g.road_start[road]), 0.0)
    if (1 - frac) * length <= 0.01:
        link(int(g.road_end[road]), 0.0)
    for node, cost in links.items():
        net.add_edge("origin", node, weight=cost)
    if "origin" not in net:
        return {}
    times = nx.single_source_dijkstra_path_length(net, "origin")
    return {int(k): float(v) for k, v in times.items() if k != "origin"}


def brute_covered_m(router: Router, profile: str, origins: Sequence[Spot], target_s: float) -> tuple[float, float]:
    """(covered m, total m): half of each usable road at each end reached within the target."""
    g = router.graph
    reached: set[int] = set()
    for origin in origins:
        reached |= {node for node, t in brute_times(router, profile, origin).items() if t <= target_s}
    usable = router.edge_mask(profile)
    covered = total = 0.0
    for road in range(g.road_count):
        edges = [int(e) for e in (g.road_fwd_edge[road], g.road_bwd_edge[road]) if e >= 0]
        if not any(usable[e] for e in edges):
            continue
        half = float(g.road_length_m[road]) / 2
        total += 2 * half
        covered += half * (int(g.road_start[road]) in reached) + half * (int(g.road_end[road]) in reached)
    return covered, total


def brute_gains(router: Router, profile: str, units: list[Spot], posts: list[Spot], target_s: float) -> np.ndarray:
    before, _ = brute_covered_m(router, profile, units, target_s)
    gains = np.zeros((len(units), len(posts)))
    for u, p in itertools.product(range(len(units)), range(len(posts))):
        moved = [posts[p] if k == u else spot for k, spot in enumerate(units)]
        gains[u, p] = brute_covered_m(router, profile, moved, target_s)[0] - before
    return gains


# -- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["fire_engine", "home_care", "ambulance"])
@pytest.mark.parametrize("target_s", [20.0, 35.0, 55.0])
def test_coverage_equals_the_brute_force(town: Router, profile: str, target_s: float) -> None:
    engine = CoverageEngine(town)
    found = engine.coverage(profile, UNITS, target_s)
    covered, total = brute_covered_m(town, profile, UNITS, target_s)
    assert 0 < covered < total  # the cases are not trivial
    assert found.covered_m == pytest.approx(covered, abs=1e-6)
    assert found.total_m == pytest.approx(total, abs=1e-6)
    assert found.share == pytest.approx(covered / total)
    # the per-unit reach sets of the move-up give the same coverage as the one multi-source search
    now, _, _ = engine.move_ups(profile, UNITS, POSTS, target_s)
    assert np.array_equal(now.covered, found.covered)
    assert now.counts is not None and int(now.counts.max()) >= 1


def test_the_fire_engine_leaves_the_alley_out(town: Router) -> None:
    engine = CoverageEngine(town)
    fire = engine.coverage("fire_engine", UNITS, 35.0)
    car = engine.coverage("home_care", UNITS, 35.0)
    assert fire.total_m < car.total_m  # the alley counts for home care only
    assert car.total_m - fire.total_m == pytest.approx(brute_covered_m(town, "home_care", [], 35)[1] - fire.total_m)


@pytest.mark.parametrize("profile", ["fire_engine", "home_care"])
@pytest.mark.parametrize("target_s", [25.0, 35.0, 45.0])
def test_the_best_move_up_equals_the_exhaustive_search(town: Router, profile: str, target_s: float) -> None:
    engine = CoverageEngine(town)
    gains = brute_gains(town, profile, UNITS, POSTS, target_s)
    assert gains.max() > 1.0  # some move helps
    _, moves, located = engine.move_ups(profile, UNITS, POSTS, target_s, count=3)
    assert located.all()
    assert moves, "a move that gains road was not suggested"
    assert moves[0].gain_m == pytest.approx(gains.max(), abs=1e-6)
    assert gains[moves[0].unit, moves[0].post] == pytest.approx(gains.max(), abs=1e-6)
    before, total = brute_covered_m(town, profile, UNITS, target_s)
    for move in moves:  # each suggestion's figures are the brute force's for that move
        assert move.gain_m == pytest.approx(gains[move.unit, move.post], abs=1e-6)
        assert move.covered_m_after == pytest.approx(before + move.gain_m, abs=1e-6)
        assert move.share_after == pytest.approx((before + move.gain_m) / total)
    assert len({m.unit for m in moves}) == len(moves) == len({m.post for m in moves})
    assert [m.gain_m for m in moves] == sorted((m.gain_m for m in moves), reverse=True)


def test_every_pair_gain_equals_the_brute_force(town: Router) -> None:
    """The matrix arithmetic for all pairs at once against recomputing the coverage per move."""
    engine = CoverageEngine(town)
    for profile in ("home_care", "fire_engine"):
        now, gains = engine.gains(profile, UNITS, POSTS, 35.0)
        assert gains == pytest.approx(brute_gains(town, profile, UNITS, POSTS, 35.0), abs=1e-6)
        assert now.covered_m == pytest.approx(brute_covered_m(town, profile, UNITS, 35.0)[0], abs=1e-6)


def test_a_closed_road_lowers_coverage_like_the_brute_force(town: Router, clock) -> None:
    engine = CoverageEngine(town)
    before = engine.coverage("fire_engine", UNITS, 35.0)
    for code, spot in (
        ("CAM-1", at(0.0, 0.0005)),
        ("CAM-2", at(0.0005, 0.0)),
    ):
        town.congestion.map_camera(code, *spot, radius_m=30)
        town.congestion.apply_reading(code, "closed", clock())
    after = engine.coverage("fire_engine", UNITS, 35.0)
    covered, _ = brute_covered_m(town, "fire_engine", UNITS, 35.0)
    assert after.covered_m == pytest.approx(covered, abs=1e-6)
    assert after.covered_m < before.covered_m
    # the posts' reach sets were searched again on the new weights
    gains = brute_gains(town, "fire_engine", UNITS, POSTS, 35.0)
    _, moves, _ = engine.move_ups("fire_engine", UNITS, POSTS, 35.0)
    assert moves[0].gain_m == pytest.approx(gains.max(), abs=1e-6)


def test_units_off_the_network_and_no_units(town: Router) -> None:
    engine = CoverageEngine(town)
    found = engine.coverage("fire_engine", [FAR_AWAY, UNITS[0], (math.nan, 0.0)], 35.0)
    assert found.located.tolist() == [False, True, False]
    assert found.covered_m == pytest.approx(brute_covered_m(town, "fire_engine", [UNITS[0]], 35.0)[0], abs=1e-6)
    nobody = engine.coverage("fire_engine", [], 35.0)
    assert nobody.covered_m == 0.0 and nobody.share == 0.0 and nobody.total_m > 0
    now, moves, located = engine.move_ups("fire_engine", [], POSTS, 35.0)
    assert moves == [] and now.covered_m == 0.0 and located.all()
    _, moves, located = engine.move_ups("fire_engine", UNITS, [FAR_AWAY], 35.0)
    assert moves == [] and located.tolist() == [False]
    with pytest.raises(ValueError, match="target"):
        engine.coverage("fire_engine", UNITS, 0.0)


def test_best_moves_takes_distinct_units_and_posts() -> None:
    from scipy.sparse import csr_matrix

    weight = np.array([10.0, 10.0, 10.0, 10.0])
    units = csr_matrix(np.array([[1, 0, 0, 0], [1, 0, 0, 0]], dtype=float))  # both cover node 0 only
    posts = csr_matrix(np.array([[0, 1, 1, 0], [0, 0, 0, 1]], dtype=float))
    counts = np.array([2, 0, 0, 0])
    assert best_moves(units, posts, counts, weight, 5) == [(0, 0, 20.0), (1, 1, 10.0)]
    assert best_moves(units, posts, counts, weight, 1) == [(0, 0, 20.0)]
    # with one unit only, moving it loses node 0
    assert best_moves(units[:1], posts, np.array([1, 0, 0, 0]), weight, 5) == [(0, 0, 10.0)]


def test_districts_split_the_coverage(town: Router) -> None:
    engine = CoverageEngine(town)
    found = engine.coverage("fire_engine", UNITS, 35.0)
    districts = Districts.nearest(
        town.graph, [at(0.0, 0.0), at(0.004, 0.004), at(0.0, 0.004)], ["Barat", "Timur", "Timur"]
    )
    assert districts.names == ("Barat", "Timur")
    shares = districts.shares(found.weight_m, found.covered)
    assert sum(t for _, t in shares.values()) == pytest.approx(found.total_m)
    assert sum(c for c, _ in shares.values()) == pytest.approx(found.covered_m)
    g = town.graph
    cameras = [at(0.0, 0.0), at(0.004, 0.004), at(0.0, 0.004)]
    nearest = [
        min(range(3), key=lambda c: haversine_m(g.node_lat[n], g.node_lon[n], *cameras[c])) for n in range(g.node_count)
    ]
    west = np.array([c == 0 for c in nearest])
    assert 0 < west.sum() < g.node_count
    assert shares["Barat"][1] == pytest.approx(float(found.weight_m[west].sum()))
    assert shares["Barat"][0] == pytest.approx(float(found.weight_m[west & found.covered].sum()))


def test_the_uncovered_layer(town: Router) -> None:
    engine = CoverageEngine(town)
    found = engine.coverage("fire_engine", UNITS[:1], 35.0)
    layer = uncovered_layer(town.graph, town.edge_mask("fire_engine"), found.covered)
    kinds = {f["properties"]["covered_ends"]: f for f in layer["features"]}
    assert set(kinds) == {0, 1}
    for feature in layer["features"]:  # the alley (column 4, north-south) is not a fire engine's road
        for line in feature["geometry"]["coordinates"]:
            for (lon_a, lat_a), (lon_b, lat_b) in itertools.pairwise(line):
                assert not (min(lon_a, lon_b) > LON0 + 0.0035 and abs(lat_a - lat_b) > 0.0005)
    drawn = {n for f in layer["features"] for line in f["geometry"]["coordinates"] for n in map(tuple, line)}
    g = town.graph
    for node in np.flatnonzero(~found.covered & (found.weight_m > 0)).tolist():  # every uncovered junction is drawn
        assert (round(float(g.node_lon[node]), 5), round(float(g.node_lat[node]), 5)) in {tuple(p) for p in drawn}
    everyone = engine.coverage("fire_engine", UNITS + POSTS, 1000.0)
    assert uncovered_layer(town.graph, town.edge_mask("fire_engine"), everyone.covered)["features"] == []


def test_parse_targets() -> None:
    known = ["fire_engine", "ambulance", "police"]
    assert parse_targets("", known) == {"fire_engine": 240.0, "ambulance": 240.0, "police": 240.0}
    assert parse_targets(" ambulance:480 , police:600", known)["ambulance"] == 480.0
    for bad in ("ambulance", "ambulance:soon", "tank:240", "police:5"):
        with pytest.raises(ValueError, match="coverage target"):
            parse_targets(bad, known)
