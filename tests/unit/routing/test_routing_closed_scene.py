"""A scene whose street, or only access, a camera reports closed: vehicles stop at the nearest
point they can reach and the crew walks on; never "no road path" while that walk is short."""

import math

import pytest

from dispatch.recommend import Candidate, rank_candidates
from dispatch.road_times import RoadTravelTimes
from dispatch.units import UnitType
from routing import NoRoute, Router

LAT0, LON0 = -5.1400, 119.4200
M_PER_DEG = 110_700.0
RESIDENTIAL_MPS = 20.0 / 3.6
WALK_MPS = 1.3

# Jalan Utama runs west-east (nodes 1, 3, 4); Jalan Buntu leaves it at node 3 northward to
# node 30 (111 m), and Jalan Buntu Dalam goes on to a dead end at node 31 (166 m more).
# The camera sees only Jalan Buntu: when it reads "closed", the scene on Jalan Buntu Dalam
# has no open access at all.
NODES = [(1, 0.0, 0.0), (2, 0.0, 0.002), (3, 0.0, 0.004), (4, 0.0, 0.008), (30, 0.001, 0.004), (31, 0.0025, 0.004)]
WAYS = [
    (1, [1, 2, 3, 4], {"highway": "residential", "name": "Jalan Utama"}),
    (2, [3, 30], {"highway": "residential", "name": "Jalan Buntu"}),
    (3, [30, 31], {"highway": "residential", "name": "Jalan Buntu Dalam"}),
]
WEST, EAST = (LAT0, LON0), (LAT0, LON0 + 0.008)
JUNCTION = (LAT0, LON0 + 0.004)
SCENE = (LAT0 + 0.002, LON0 + 0.004)  # on Jalan Buntu Dalam, 111 m past node 30
ON_CLOSED = (LAT0 + 0.0005, LON0 + 0.004)  # on Jalan Buntu itself


def at(dlat: float, dlon: float) -> tuple[float, float]:
    return (LAT0 + dlat, LON0 + dlon)


@pytest.fixture
def town(make_graph, clock) -> Router:
    router = Router(make_graph(NODES, WAYS), clock=clock)
    camera = router.congestion.map_camera("CAM-BUNTU", LAT0 + 0.0005, LON0 + 0.004, radius_m=20)
    assert {router.graph.road_label(int(router.graph.edge_road[e])) for e in camera.edges} == {"Jalan Buntu"}
    return router


def test_open_roads_drive_to_the_door(town: Router) -> None:
    [result] = town.travel_times_to(SCENE, [WEST], "fire_engine")
    assert result.reachable and not result.closed_road and result.walk_m == 0.0
    assert result.distance_m == pytest.approx((0.004 + 0.002) * M_PER_DEG, rel=0.01)


def test_closed_only_access_stops_at_the_closure_and_walks(town: Router, clock) -> None:
    town.congestion.apply_reading("CAM-BUNTU", "closed", clock())
    west, east = town.travel_times_to(SCENE, [WEST, EAST], "fire_engine")
    for result in (west, east):
        assert result.error is None and result.closed_road and not result.reachable
        assert result.stop == pytest.approx(JUNCTION)
        assert result.walk_m == pytest.approx(0.002 * M_PER_DEG, rel=0.01)  # up both Buntu roads
        assert result.walk_s == pytest.approx(result.walk_m / WALK_MPS)
        assert result.arrival_s == pytest.approx(result.eta_s + result.walk_s)
    assert west.distance_m == pytest.approx(0.004 * M_PER_DEG, rel=0.01)
    assert west.eta_s == pytest.approx(west.distance_m / (RESIDENTIAL_MPS * 0.85), rel=1e-6)
    route = town.route(WEST, SCENE, "fire_engine")
    assert route.closed_road and not route.reachable
    assert route.walk_m == pytest.approx(west.walk_m) and route.eta_s == pytest.approx(west.eta_s)
    assert route.geometry["coordinates"][-1] == pytest.approx([JUNCTION[1], JUNCTION[0]])
    assert route.as_dict()["closed_road"] is True and route.as_dict()["stop"]["lat"] == pytest.approx(JUNCTION[0])


def test_scene_on_the_closed_road_itself_is_reached_on_foot(town: Router, clock) -> None:
    town.congestion.apply_reading("CAM-BUNTU", "closed", clock())
    [result] = town.travel_times_to(ON_CLOSED, [WEST], "ambulance")
    assert result.closed_road and result.stop == pytest.approx(JUNCTION)
    assert result.walk_m == pytest.approx(0.0005 * M_PER_DEG, rel=0.01)


def test_reopened_road_is_driven_again(town: Router, clock) -> None:
    town.congestion.apply_reading("CAM-BUNTU", "closed", clock())
    clock.advance(60)
    town.congestion.apply_reading("CAM-BUNTU", "free", clock())
    [result] = town.travel_times_to(SCENE, [WEST], "fire_engine")
    assert result.reachable and not result.closed_road and result.walk_m == 0.0


def test_a_closure_far_from_the_scene_changes_nothing_but_the_detour(town: Router, clock) -> None:
    town.congestion.apply_reading("CAM-BUNTU", "closed", clock())
    [result] = town.travel_times_to(at(0.0, 0.006), [WEST], "ambulance")  # on Jalan Utama, 222 m from Buntu
    assert result.reachable and not result.closed_road


def test_past_the_walking_cap_the_scene_is_unreachable(make_graph, clock) -> None:
    router = Router(make_graph(NODES, WAYS), clock=clock, max_walk_m=150.0)
    router.congestion.map_camera("CAM-BUNTU", LAT0 + 0.0005, LON0 + 0.004, radius_m=20)
    router.congestion.apply_reading("CAM-BUNTU", "closed", clock())
    [result] = router.travel_times_to(SCENE, [WEST], "fire_engine")  # 222 m on foot > 150 m
    assert result.eta_s == math.inf and "no road path" in (result.error or "")
    with pytest.raises(NoRoute):
        router.route(WEST, SCENE, "fire_engine")


def test_p1_fire_behind_a_closed_road_still_ranks_its_fire_engines(town: Router, clock) -> None:
    town.congestion.apply_reading("CAM-BUNTU", "closed", clock())
    now = clock()
    candidates = [
        Candidate(1, "DMK-01", UnitType.FIRE_ENGINE, "damkar", WEST, now, None),
        Candidate(2, "DMK-02", UnitType.FIRE_ENGINE, "damkar", at(0.0, 0.006), now, None),
        Candidate(3, "TKR-01", UnitType.WATER_TANKER, "damkar", EAST, now, None),
    ]
    ranked = rank_candidates(SCENE, candidates, RoadTravelTimes(town), now=now, stale_after_s=120)
    assert [r.callsign for r in ranked] == ["DMK-02", "DMK-01", "TKR-01"]
    for r in ranked:
        assert r.closed_road and r.walk_m == pytest.approx(0.002 * M_PER_DEG, rel=0.01)
        assert r.walk_reason is not None and "road closed" in r.walk_reason and f"{r.walk_m:.0f} m" in r.walk_reason
        assert r.stop == pytest.approx(JUNCTION)
        assert r.eta_s > r.walk_m / WALK_MPS  # the ranking's ETA includes the walk


def test_a_closure_beside_an_alley_scene_does_not_relabel_its_walk(make_graph, clock) -> None:
    # A fire engine cannot enter the alley (it walks 130 m from node 3 either way); a closure on
    # the street east of the alley is within walking distance but changes nothing for a unit
    # from the west: its walk is the alley's, not a closed road's.
    nodes = [(1, 0.0, 0.0), (3, 0.0, 0.002), (5, 0.0, 0.004), (30, 0.0006, 0.002), (31, 0.0011, 0.0022)]
    ways = [
        (1, [1, 3, 5], {"highway": "residential", "name": "Jalan Utama"}),
        (2, [3, 30, 31], {"highway": "service", "service": "alley", "width": "2.2", "name": "Lorong Daeng"}),
    ]
    router = Router(make_graph(nodes, ways), clock=clock)
    router.congestion.map_camera("CAM-EAST", LAT0, LON0 + 0.0035, radius_m=20)
    router.congestion.apply_reading("CAM-EAST", "closed", clock())
    [result] = router.travel_times_to(at(0.00112, 0.00221), [WEST], "fire_engine")
    assert not result.reachable and not result.closed_road
    assert result.stop == pytest.approx(at(0.0, 0.002)) and result.walk_m == pytest.approx(130.0, abs=5.0)
    assert not router.route(WEST, at(0.00112, 0.00221), "fire_engine").closed_road
