"""The fast paths of one-to-many queries give the answers of the plain ones (Porto Alegre):
grid snapping against the KD-tree alone, reused search matrices across profiles,
congestion and threads, and tree lengths by padded adjacency against binary search."""

import threading

import numpy as np
import pytest

import routing.search
from routing import RoadGraph, Router
from routing.search import Links, search_to, tree_lengths
from routing.snap import SegmentIndex


def _positions(graph: RoadGraph, rng: np.random.Generator, count: int, jitter_deg: float) -> list[tuple[float, float]]:
    points = []
    for road in rng.integers(0, graph.road_count, count).tolist():
        lats, lons = graph.road_coordinates(road)
        k = int(rng.integers(0, len(lats) - 1))
        f = float(rng.random())
        lat = float(lats[k] + f * (lats[k + 1] - lats[k]) + rng.normal(0, jitter_deg))
        lon = float(lons[k] + f * (lons[k + 1] - lons[k]) + rng.normal(0, jitter_deg))
        points.append((lat, lon))
    return points


def test_grid_snapping_equals_the_kd_tree(poa_graph: RoadGraph) -> None:
    index = SegmentIndex(poa_graph)
    rng = np.random.default_rng(21)
    near = np.array(_positions(poa_graph, rng, 400, 0.0003))  # mostly within the grid margin
    lat0, lon0, lat1, lon1 = poa_graph.bbox
    anywhere = np.column_stack((rng.uniform(lat0, lat1, 200), rng.uniform(lon0, lon1, 200)))
    far = np.array([[lat0 - 0.01, lon0], [lat1 + 0.002, lon1 + 0.002]])  # outside the grid
    points = np.vstack((near, anywhere, far))
    snaps = index.snap(points[:, 0], points[:, 1])
    px, py = poa_graph.projection.to_xy(points[:, 0], points[:, 1])
    n = len(points)
    seg, tau, dist = np.zeros(n, dtype=np.int64), np.zeros(n), np.full(n, np.inf)
    index._nearest_by_tree(px, py, np.arange(n), seg, tau, dist)
    np.testing.assert_allclose(snaps.distance_m, dist, rtol=0, atol=1e-6)
    by_grid = snaps.distance_m <= index.grid.margin_m
    assert 100 < by_grid.sum() < n  # both ways were used


def test_search_matrices_are_reused_safely(poa_graph: RoadGraph) -> None:
    router = Router(poa_graph)
    rng = np.random.default_rng(22)
    target, *units = _positions(poa_graph, rng, 201, 0.0001)
    other = _positions(poa_graph, rng, 1, 0.0)[0]
    first = router.travel_times_to(target, units, "ambulance")
    router.travel_times_to(other, units, "fire_engine")  # other weights, other links
    router.route(units[0], other, "ambulance")  # the forward matrices
    assert router.travel_times_to(target, units, "ambulance") == first
    lat, lon = units[5]
    router.congestion.map_camera("FAST-1", lat, lon, radius_m=60)
    router.congestion.apply_reading("FAST-1", "closed")
    closed = router.travel_times_to(target, units, "ambulance")
    assert closed != first
    assert Router(poa_graph, congestion=router.congestion).travel_times_to(target, units, "ambulance") == closed


def test_concurrent_queries_match_sequential_ones(poa_graph: RoadGraph) -> None:
    router = Router(poa_graph)
    rng = np.random.default_rng(23)
    jobs = [
        (_positions(poa_graph, rng, 1, 0.0)[0], _positions(poa_graph, rng, 100, 0.0002), profile)
        for profile in ("ambulance", "fire_engine", "ambulance", "fire_engine")
    ]
    expected = [router.travel_times_to(*job) for job in jobs]
    got: list[object] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(k: int) -> None:
        barrier.wait()
        for _ in range(5):
            got[k] = router.travel_times_to(*jobs[k])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == expected


def test_tree_lengths_without_the_padded_table(poa_graph: RoadGraph, monkeypatch: pytest.MonkeyPatch) -> None:
    router = Router(poa_graph)
    weights = router.free_flow_weights("ambulance")[poa_graph.rev_perm]
    links = Links.cheapest([(10, 0.0, 0.0, -1, 0.0), (11, 3.0, 25.0, 7, 0.5)])
    result = search_to(poa_graph, weights, links)
    padded = tree_lengths(poa_graph, result, links)
    monkeypatch.setattr(routing.search, "PADDED_MAX_DEGREE", 0)
    plain = routing.search._Adjacency(poa_graph)
    assert not plain.usable
    monkeypatch.setitem(poa_graph._lazy, "adjacency:padded", plain)  # binary search instead
    np.testing.assert_allclose(tree_lengths(poa_graph, result, links), padded, rtol=1e-12, equal_nan=True)
    reached = np.isfinite(result.cost_s[:-1])
    assert np.isfinite(padded[:-1][reached]).all() and np.isnan(padded[:-1][~reached]).all()


def test_kept_searches_give_the_answers_of_fresh_ones(poa_graph: RoadGraph) -> None:
    """A router keeps the search from each target (per profile and congestion version): asking
    again with units that moved, or around a closure at the scene, answers as a router that
    keeps nothing; a new reading is a new version, never a stale answer."""
    kept, fresh = Router(poa_graph), Router(poa_graph, field_cache_mb=0)
    fresh.congestion = kept.congestion
    rng = np.random.default_rng(23)
    target, *units = _positions(poa_graph, rng, 151, 0.0001)
    moved = _positions(poa_graph, rng, 150, 0.0001)
    for profile in ("ambulance", "fire_engine"):
        first = kept.travel_times_to(target, units, profile)
        assert kept.travel_times_to(target, moved, profile) == fresh.travel_times_to(target, moved, profile)
        assert kept.travel_times_to(target, units, profile) == first
    assert kept._fields.used > 0 and fresh._fields.used == 0
    kept.congestion.map_camera("KEPT-1", *target, radius_m=30)
    kept.congestion.apply_reading("KEPT-1", "closed")  # the scene's own road: the crews walk
    closed = kept.travel_times_to(target, units, "ambulance")
    assert closed != first and any(t.closed_road for t in closed)
    assert closed == fresh.travel_times_to(target, units, "ambulance")
    assert kept.travel_times_to(target, moved, "ambulance") == fresh.travel_times_to(target, moved, "ambulance")
    small = Router(poa_graph, field_cache_mb=0.5)  # two searches' worth
    for point in _positions(poa_graph, rng, 5, 0.0):
        small.travel_times_to(point, units[:3], "ambulance")
    assert 0 < small._fields.used <= 0.5e6
