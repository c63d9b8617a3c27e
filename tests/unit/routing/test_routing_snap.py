import numpy as np
import pytest
import shapely

from routing import RoadGraph
from routing.snap import SegmentIndex


def test_snap_is_exact_against_brute_force(poa_graph: RoadGraph) -> None:
    graph = poa_graph
    index = SegmentIndex(graph)
    rng = np.random.default_rng(3)
    lat0, lon0, lat1, lon1 = graph.bbox
    lats, lons = rng.uniform(lat0, lat1, 300), rng.uniform(lon0, lon1, 300)
    snaps = index.snap(lats, lons)
    x, y = graph.projection.to_xy(graph.coord_lat, graph.coord_lon)
    lines = [
        shapely.linestrings(np.column_stack((x[lo:hi], y[lo:hi])))
        for lo, hi in zip(graph.road_ptr[:-1].tolist(), graph.road_ptr[1:].tolist(), strict=True)
    ]
    tree = shapely.STRtree(lines)
    px, py = graph.projection.to_xy(lats, lons)
    (_, nearest), distance = tree.query_nearest(shapely.points(px, py), return_distance=True, all_matches=False)
    np.testing.assert_allclose(snaps.distance_m, distance, rtol=0, atol=1e-6)
    same_road = snaps.road == nearest
    assert same_road.mean() > 0.97  # ties: the nearest point is a node where roads meet
    # The snapped point lies on its road at the reported fraction.
    for i in np.flatnonzero(same_road)[:50].tolist():
        line = lines[int(snaps.road[i])]
        sx, sy = graph.projection.to_xy(snaps.lat[i : i + 1], snaps.lon[i : i + 1])
        assert shapely.distance(line, shapely.Point(sx[0], sy[0])) < 1e-6
        along = shapely.line_locate_point(line, shapely.Point(sx[0], sy[0]), normalized=True)
        assert snaps.fraction[i] == pytest.approx(along, abs=0.01)


def test_far_points_are_far(poa_graph: RoadGraph) -> None:
    index = SegmentIndex(poa_graph)
    lat0, lon0, _, _ = poa_graph.bbox
    snaps = index.snap(np.array([lat0 - 0.05]), np.array([lon0]))
    assert snaps.distance_m[0] > 5000
