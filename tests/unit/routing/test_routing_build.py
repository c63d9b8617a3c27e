import json
import math
from pathlib import Path

import numpy as np
import pytest

import routing
from routing import BadRoadData, RoadGraph

# A cross: way 1 runs west-east through node 3; way 2 runs south-north through node 3,
# with a bend (node 22) that must survive as geometry.
CROSS_NODES = [
    (1, 0.0, 0.0),
    (2, 0.0, 0.001),
    (3, 0.0, 0.002),
    (4, 0.0, 0.003),
    (5, 0.0, 0.004),
    (20, -0.002, 0.002),
    (21, -0.001, 0.002),
    (22, 0.001, 0.0025),
    (23, 0.002, 0.002),
]


def edge_between(graph: RoadGraph, a: int, b: int) -> int:
    index = {int(osm): i for i, osm in enumerate(graph.node_osm_id)}
    return graph.find_edge(index[a], index[b])


def test_ways_are_cut_at_intersections_and_keep_their_shape(make_graph) -> None:
    graph = make_graph(
        CROSS_NODES,
        [(1, [1, 2, 3, 4, 5], {"highway": "residential"}), (2, [20, 21, 3, 22, 23], {"highway": "residential"})],
    )
    assert sorted(graph.node_osm_id.tolist()) == [1, 3, 5, 20, 23]  # ends and the crossing
    assert graph.road_count == 4
    assert graph.edge_count == 8  # two-way
    edge = edge_between(graph, 3, 23)
    lats, lons = graph.road_coordinates(int(graph.edge_road[edge]))
    assert len(lats) == 3 and lons[1] == pytest.approx(119.4225)  # the bend is kept
    assert graph.edge_length_m[edge] > 222.0  # longer than the straight 3 → 23 line


def test_oneway_reverse_and_roundabout(make_graph) -> None:
    graph = make_graph(
        CROSS_NODES,
        [
            (1, [1, 2, 3, 4, 5], {"highway": "residential", "oneway": "-1"}),
            (2, [20, 21, 3], {"highway": "residential", "junction": "roundabout"}),
            (3, [3, 22, 23], {"highway": "residential", "oneway": "yes"}),
        ],
    )
    assert edge_between(graph, 3, 1) >= 0 and edge_between(graph, 1, 3) < 0
    assert edge_between(graph, 20, 3) >= 0 and edge_between(graph, 3, 20) < 0
    assert edge_between(graph, 3, 23) >= 0 and edge_between(graph, 23, 3) < 0


@pytest.mark.parametrize(
    "tags",
    [
        {"highway": "footway"},
        {"highway": "residential", "access": "no"},
        {"highway": "residential", "access": "private"},
        {"highway": "residential", "motor_vehicle": "no"},
        {"highway": "residential", "motorcar": "no"},
        {"highway": "construction"},
        {"highway": "primary", "oneway": "reversible"},
    ],
)
def test_ways_cars_may_not_use_are_left_out(make_graph, tags: dict[str, str]) -> None:
    graph = make_graph(CROSS_NODES, [(1, [1, 2, 3, 4, 5], {"highway": "residential"}), (2, [20, 21, 3], tags)])
    assert 20 not in graph.node_osm_id.tolist()


def test_travel_time_from_maxspeed_else_class_speed(make_graph) -> None:
    graph = make_graph(
        CROSS_NODES,
        [
            (1, [1, 2, 3], {"highway": "primary", "maxspeed": "60"}),
            (2, [3, 4, 5], {"highway": "primary", "maxspeed": "30 mph"}),
            (3, [20, 21, 3], {"highway": "primary", "maxspeed": "signals"}),
            (4, [3, 22, 23], {"highway": "living_street"}),
        ],
        speeds_kmh={"primary": 40.0, "living_street": 10.0},
    )
    for (a, b), kmh in {(1, 3): 60.0, (3, 5): 48.28032, (20, 3): 40.0, (3, 23): 10.0}.items():
        edge = edge_between(graph, a, b)
        assert graph.edge_time_s[edge] == pytest.approx(graph.edge_length_m[edge] / (kmh / 3.6))


def test_edge_attributes_carry_the_tags_profiles_need(make_graph) -> None:
    graph = make_graph(
        CROSS_NODES,
        [
            (1, [1, 2, 3], {"highway": "service", "service": "alley", "width": "2.2", "name": "Lorong 3"}),
            (2, [3, 4, 5], {"highway": "residential", "maxwidth": "2.5", "maxweight": "3.5 t", "maxheight": "2.1"}),
        ],
    )
    alley = int(graph.edge_road[edge_between(graph, 1, 3)])
    assert graph.highway_names[graph.road_highway[alley]] == "service"
    assert graph.service_names[graph.road_service[alley]] == "alley"
    assert graph.road_width_m[alley] == pytest.approx(2.2)
    assert graph.road_label(alley) == "Lorong 3"
    assert graph.road_way_id[alley] == 1
    narrow = int(graph.edge_road[edge_between(graph, 3, 5)])
    assert graph.road_maxwidth_m[narrow] == pytest.approx(2.5)
    assert graph.road_maxweight_t[narrow] == pytest.approx(3.5)
    assert graph.road_maxheight_m[narrow] == pytest.approx(2.1)
    assert math.isnan(graph.road_width_m[narrow])


def test_parallel_roads_and_loops_keep_the_graph_simple(make_graph) -> None:
    graph = make_graph(
        [(1, 0.0, 0.0), (2, 0.0, 0.001), (3, 0.0005, 0.0005), (4, -0.0005, 0.0005), (5, 0.001, 0.0), (6, 0.001, 0.001)],
        [
            (1, [1, 2], {"highway": "residential"}),
            (2, [1, 3, 2], {"highway": "residential"}),  # a second road between 1 and 2
            (3, [2, 4, 1], {"highway": "residential"}),  # and a third
            (4, [1, 5, 6, 1], {"highway": "residential"}),  # a loop back to 1
        ],
    )
    keys = list(zip(graph.edge_tail.tolist(), graph.edge_head.tolist(), strict=True))
    assert len(keys) == len(set(keys))
    assert all(t != h for t, h in keys)
    total = graph.road_length_m.sum()
    # 1-2, the two bent roads 1-3-2 and 2-4-1, and the loop 1-5-6-1: all kept.
    assert total == pytest.approx(110.7 + 2 * 156.8 + (110.7 + 110.7 + 156.6), rel=0.005)


def test_missing_node_locations_split_the_way(make_graph) -> None:
    document_nodes = [n for n in CROSS_NODES if n[0] != 3]
    graph = make_graph(document_nodes, [(1, [1, 2, 3, 4, 5], {"highway": "residential"})])
    assert graph.road_count == 2  # 1-2 and 4-5


def test_no_drivable_road_is_an_error(make_graph) -> None:
    with pytest.raises(BadRoadData, match="no drivable road"):
        make_graph(CROSS_NODES, [(1, [1, 2, 3], {"highway": "footway"})])


def test_cache_round_trip_keeps_everything(make_graph, tmp_path: Path) -> None:
    graph = make_graph(CROSS_NODES, [(1, [1, 2, 3, 4, 5], {"highway": "residential", "name": "Jalan Sudirman"})])
    path = graph.save(tmp_path / "x.wrcache")
    loaded = RoadGraph.load(path)
    for name in ("node_lat", "coord_lon", "edge_time_s", "road_width_m", "edge_tail", "road_way_id"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(graph, name))
    assert loaded.names == ("Jalan Sudirman",)
    assert not loaded.edge_time_s.flags.writeable


def test_cache_file_is_not_a_pickle(tmp_path: Path, make_graph) -> None:
    graph = make_graph(CROSS_NODES, [(1, [1, 2, 3], {"highway": "residential"})])
    path = graph.save(tmp_path / "x.wrcache")
    with np.load(path, allow_pickle=False) as archive:  # would raise on object arrays
        assert "edge_time_s" in archive.files


def test_bad_cache_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.wrcache"
    path.write_bytes(b"not a cache")
    with pytest.raises(BadRoadData, match="cannot read road cache"):
        RoadGraph.load(path)


def test_import_and_load_from_overpass_json(tmp_path: Path, overpass_document) -> None:
    source = tmp_path / "mini.json"
    source.write_text(json.dumps(overpass_document(CROSS_NODES, [(1, [1, 2, 3], {"highway": "residential"})])))
    cache = routing.import_roads(source, cache_dir=tmp_path / "cache")
    assert cache.parent == tmp_path / "cache" and cache.name.startswith("mini-") and cache.suffix == ".wrcache"
    assert cache == routing.cache_path_for(source, tmp_path / "cache")
    assert routing.load_graph(cache).edge_count == 2
    # An extract with a cache dir reuses the cache; without one it builds in memory.
    assert routing.load_graph(source, cache_dir=tmp_path / "cache").edge_count == 2
    assert routing.load_graph(source).edge_count == 2
    explicit = routing.import_roads(source, tmp_path / "elsewhere" / "roads.wrcache")
    assert explicit.exists()


def test_changed_extract_gets_a_new_cache(tmp_path: Path, overpass_document) -> None:
    source = tmp_path / "mini.json"
    source.write_text(json.dumps(overpass_document(CROSS_NODES, [(1, [1, 2, 3], {"highway": "residential"})])))
    first = routing.cache_path_for(source, tmp_path)
    source.write_text(json.dumps(overpass_document(CROSS_NODES, [(1, [1, 2, 3, 4], {"highway": "residential"})])))
    assert routing.cache_path_for(source, tmp_path) != first
    graph = routing.load_graph(source, cache_dir=tmp_path)
    assert graph.road_length_m.sum() == pytest.approx(333.9, rel=0.01)


def test_not_an_extract(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text("hello")
    with pytest.raises(BadRoadData):
        routing.load_graph(path)
    with pytest.raises(FileNotFoundError):
        routing.load_graph(tmp_path / "missing.pbf")
