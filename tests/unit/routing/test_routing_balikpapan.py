"""The Indonesian extract (Overpass JSON): names, narrow gang, routes."""

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from routing import RoadGraph, Router
from routing.geometry import road_slice


@pytest.fixture(scope="module")
def router(balikpapan_graph: RoadGraph) -> Router:
    return Router(balikpapan_graph)


def test_loads_with_indonesian_names(balikpapan_graph: RoadGraph) -> None:
    graph = balikpapan_graph
    assert 2_000 < graph.node_count < 3_000 and graph.edge_count > 4_500
    assert any(name.startswith("Jalan ") for name in graph.names)
    assert any(name.startswith("Gang ") for name in graph.names)
    lat0, lon0, lat1, lon1 = graph.bbox
    assert -1.30 < lat0 < lat1 < -1.24 and 116.80 < lon0 < lon1 < 116.88


def test_gang_reachable_for_home_care_but_not_for_a_fire_engine(router: Router) -> None:
    graph = router.graph
    living = graph.highway_names.index("living_street")
    trunk = int(np.flatnonzero(graph.road_highway == graph.highway_names.index("trunk"))[0])
    station = (float(graph.coord_lat[graph.road_ptr[trunk]]), float(graph.coord_lon[graph.road_ptr[trunk]]))
    fire_ok = router.edge_mask("fire_engine")
    checked = 0
    for road in np.flatnonzero(graph.road_highway == living).tolist():
        if not graph.road_label(road).startswith("Gang") or graph.road_length_m[road] < 60:
            continue
        assert not fire_ok[graph.edge_road == road].any()  # untagged width: assumed 3 m
        [middle] = road_slice(graph, road, 0.5, 0.5)[:1]
        [care] = router.travel_times_to(middle, [station], "home_care")
        if care.error:  # a gang the network cannot reach from the station
            continue
        [fire] = router.travel_times_to(middle, [station], "fire_engine")
        assert care.reachable and care.walk_m == 0.0
        assert not fire.reachable and 0 < fire.walk_m <= router.max_walk_m
        route = router.route(station, middle, "fire_engine")
        assert route.stop == fire.stop and route.eta_s == pytest.approx(fire.eta_s)
        checked += 1
    assert checked >= 3


def test_route_across_town(router: Router) -> None:
    graph = router.graph
    usable = np.flatnonzero(np.isfinite(router.free_flow_weights("ambulance")))
    adjacency = csr_matrix(
        (np.ones(len(usable)), (graph.edge_tail[usable], graph.edge_head[usable])),
        shape=(graph.node_count, graph.node_count),
    )
    _, component = connected_components(adjacency, connection="strong")
    ends = np.flatnonzero(component == np.bincount(component).argmax())
    far = [int(ends[np.argmin(graph.node_lat[ends])]), int(ends[np.argmax(graph.node_lon[ends])])]
    origin, destination = ((float(graph.node_lat[n]), float(graph.node_lon[n])) for n in far)
    route = router.route(origin, destination, "ambulance")
    assert route.reachable and route.distance_m > 3_000
    assert 60 < route.eta_s < 3_600
    assert len(route.geometry["coordinates"]) > 20
