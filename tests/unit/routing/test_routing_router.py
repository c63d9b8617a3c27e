import math

import pytest

import routing
from routing import NoRoute, OutsideRoadNetwork, Router, UnknownProfile

LAT0, LON0 = -5.1400, 119.4200
M_PER_DEG_LON = 110_700.0  # at 5° south, near enough for the checks below
RESIDENTIAL_MPS = 20.0 / 3.6

# Jalan Utama runs west-east (nodes 1..5, 111 m apart); a narrow alley, Lorong Daeng,
# leaves it at node 3 northward (about 130 m) to a dead end.
TOWN_NODES = [
    (1, 0.0, 0.0),
    (2, 0.0, 0.001),
    (3, 0.0, 0.002),
    (4, 0.0, 0.003),
    (5, 0.0, 0.004),
    (30, 0.0006, 0.002),
    (31, 0.0011, 0.0022),
]
TOWN_WAYS = [
    (1, [1, 2, 3, 4, 5], {"highway": "residential", "name": "Jalan Utama"}),
    (2, [3, 30, 31], {"highway": "service", "service": "alley", "width": "2.2", "name": "Lorong Daeng"}),
]


def at(dlat: float, dlon: float) -> tuple[float, float]:
    return (LAT0 + dlat, LON0 + dlon)


@pytest.fixture
def town(make_graph) -> Router:
    return Router(make_graph(TOWN_NODES, TOWN_WAYS))


def test_alley_incident_reachable_for_home_care_not_for_fire_engine(town: Router) -> None:
    incident = at(0.00112, 0.00221)  # a few metres off the alley's end
    units = [at(0.0, 0.0), at(0.0, 0.004)]
    home_care = town.travel_times_to(incident, units, "home_care")
    fire = town.travel_times_to(incident, units, "fire_engine")
    for result in home_care:
        assert result.reachable and result.walk_m == 0.0 and result.error is None
    for result in fire:
        assert not result.reachable
        assert result.stop == pytest.approx(at(0.0, 0.002))  # where the alley leaves the street
        assert result.walk_m == pytest.approx(130.0, abs=5.0)
        assert result.walk_s == pytest.approx(result.walk_m / 1.3)
        assert result.arrival_s == pytest.approx(result.eta_s + result.walk_s)
    # Both units drive the 221 m of street; home care then the alley too, fire engines more slowly.
    assert fire[0].distance_m == pytest.approx(0.002 * M_PER_DEG_LON, rel=0.01)
    assert home_care[0].distance_m == pytest.approx(fire[0].distance_m + fire[0].walk_m, rel=0.01)
    assert fire[0].eta_s == pytest.approx(fire[0].distance_m / (RESIDENTIAL_MPS * 0.85), rel=1e-9)


def test_route_to_the_alley_stops_short_for_a_fire_engine(town: Router) -> None:
    route = town.route(at(0.0, 0.0), at(0.00112, 0.00221), "fire_engine")
    assert not route.reachable and route.walk_m > 100
    assert route.geometry["coordinates"][-1] == pytest.approx([LON0 + 0.002, LAT0])
    full = town.route(at(0.0, 0.0), at(0.00112, 0.00221), "home_care")
    assert full.reachable and full.walk_m == 0.0
    assert full.geometry["coordinates"][3] == pytest.approx([LON0 + 0.002, LAT0 + 0.0006])  # the alley's bend


def test_same_road_both_directions(town: Router) -> None:
    ahead = town.travel_times_to(at(0.0, 0.0008), [at(0.0, 0.0002)], "ambulance")[0]
    behind = town.travel_times_to(at(0.0, 0.0002), [at(0.0, 0.0008)], "ambulance")[0]
    for result in (ahead, behind):
        assert result.distance_m == pytest.approx(0.0006 * M_PER_DEG_LON, rel=0.01)
        assert result.eta_s == pytest.approx(result.distance_m / RESIDENTIAL_MPS, rel=1e-9)


def test_oneway_loop_goes_round(make_graph) -> None:
    square = [(1, 0.0, 0.0), (2, 0.0, 0.002), (3, 0.002, 0.002), (4, 0.002, 0.0)]
    router = Router(make_graph(square, [(1, [1, 2, 3, 4, 1], {"highway": "residential", "oneway": "yes"})]))
    loop_m = float(router.graph.road_length_m.sum())
    forward = router.travel_times_to(at(0.0, 0.0015), [at(0.0, 0.0005)], "police")[0]
    backward = router.travel_times_to(at(0.0, 0.0005), [at(0.0, 0.0015)], "police")[0]
    assert forward.distance_m == pytest.approx(0.001 * M_PER_DEG_LON, rel=0.01)
    assert backward.distance_m == pytest.approx(loop_m - forward.distance_m, rel=1e-6)
    route = router.route(at(0.0, 0.0015), at(0.0, 0.0005), "police")
    assert route.distance_m == pytest.approx(backward.distance_m, rel=1e-9)
    assert route.eta_s == pytest.approx(backward.eta_s, rel=1e-9)
    lons = [c[0] for c in route.geometry["coordinates"]]
    assert lons[0] == pytest.approx(LON0 + 0.0015) and lons[-1] == pytest.approx(LON0 + 0.0005)
    assert len(route.geometry["coordinates"]) == 6  # start, 3 corners, back to the first, end


def test_route_geometry_and_result_shape(town: Router) -> None:
    route = town.route(at(0.0001, 0.0005), at(-0.0001, 0.0035), "ambulance")
    assert route.geometry["type"] == "LineString"
    coordinates = route.geometry["coordinates"]
    assert coordinates[0] == pytest.approx([LON0 + 0.0005, LAT0])
    assert coordinates[-1] == pytest.approx([LON0 + 0.0035, LAT0])
    assert route.distance_m == pytest.approx(0.003 * M_PER_DEG_LON, rel=0.01)
    assert route.eta_s == route.eta_free_flow_s
    assert route.origin_snap_distance_m == pytest.approx(11.0, abs=0.5)
    as_dict = route.as_dict()
    assert as_dict["congested_edges_avoided"] == [] and as_dict["stop"]["lat"] == pytest.approx(LAT0)


def test_bad_inputs(town: Router) -> None:
    with pytest.raises(ValueError, match="finite"):
        town.travel_times_to((math.nan, LON0), [at(0, 0)], "ambulance")
    with pytest.raises(ValueError, match="origin"):
        town.route((LAT0, math.inf), at(0, 0), "ambulance")
    with pytest.raises(OutsideRoadNetwork, match=r"\d+ m from the nearest road") as info:
        town.route(at(0, 0), at(0.05, 0.0), "ambulance")
    assert info.value.distance_m == pytest.approx(5443, rel=0.01)  # from the alley's end
    with pytest.raises(UnknownProfile, match="hovercraft"):
        town.route(at(0, 0), at(0, 0.001), "hovercraft")


def test_one_bad_source_does_not_spoil_the_batch(town: Router) -> None:
    results = town.travel_times_to(at(0, 0.001), [at(0, 0), (math.nan, 1.0), at(0.05, 0), ("x", "y")], "ambulance")
    assert results[0].error is None and results[0].eta_s > 0
    assert "finite" in (results[1].error or "")
    assert "outside the road network" in (results[2].error or "") and results[2].snap_distance_m > 5000
    assert results[3].error and results[3].eta_s == math.inf
    assert town.travel_times_to(at(0, 0.001), [], "ambulance") == []


def test_snap_limit_is_configurable(make_graph) -> None:
    router = Router(make_graph(TOWN_NODES, TOWN_WAYS), snap_limit_m=50.0)
    with pytest.raises(OutsideRoadNetwork, match="limit 50 m"):
        router.route(at(0, 0), at(-0.001, 0.001), "ambulance")


def test_disconnected_destination(make_graph) -> None:
    router = Router(
        make_graph(
            [*TOWN_NODES, (40, 0.003, 0.0), (41, 0.003, 0.001)],
            [*TOWN_WAYS, (3, [40, 41], {"highway": "residential"})],
        ),
        max_walk_m=50.0,
    )
    with pytest.raises(NoRoute):
        router.route(at(0, 0), at(0.003, 0.0005), "ambulance")
    [result] = router.travel_times_to(at(0.003, 0.0005), [at(0, 0)], "ambulance")
    assert result.eta_s == math.inf and "no road path" in (result.error or "")


def test_profiles_are_configurable(make_graph) -> None:
    moped = routing.VehicleProfile("moped", width_m=0.8, weight_t=0.1, height_m=1.2, speed_factor=0.5)
    router = Router(make_graph(TOWN_NODES, TOWN_WAYS), profiles={"moped": moped})
    [result] = router.travel_times_to(at(0, 0.001), [at(0, 0)], "moped")
    assert result.eta_s == pytest.approx(0.001 * M_PER_DEG_LON / (RESIDENTIAL_MPS * 0.5), rel=0.01)
    with pytest.raises(UnknownProfile):
        router.travel_times_to(at(0, 0.001), [at(0, 0)], "ambulance")


@pytest.mark.parametrize(
    ("tags", "fire_engine_ok"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "residential", "maxwidth": "2.3"}, False),
        ({"highway": "residential", "width": "2.8"}, False),
        ({"highway": "residential", "maxweight": "10"}, False),
        ({"highway": "residential", "maxheight": "3.0"}, False),
        ({"highway": "living_street"}, False),  # assumed 3 m wide
        ({"highway": "living_street", "width": "5"}, True),
        ({"highway": "service", "service": "alley"}, False),
        ({"highway": "track"}, False),
    ],
)
def test_profile_masks(make_graph, tags: dict[str, str], fire_engine_ok: bool) -> None:
    router = Router(make_graph(TOWN_NODES[:3], [(1, [1, 2, 3], tags)]))
    assert bool(router.edge_mask("fire_engine").all()) is fire_engine_ok
    assert router.edge_mask("home_care").all()
