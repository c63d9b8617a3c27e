import threading
from datetime import datetime, timedelta

import pytest

from routing import BadCongestionLevel, CongestionModel, OutsideRoadNetwork, Router, UnknownCamera

LAT0, LON0 = -5.1400, 119.4200
RESIDENTIAL_MPS = 20.0 / 3.6

# From Jalan Awal, Jalan Lurus runs straight on (443 m) to Jalan Akhir; the detour along
# Jalan Memutar is 665 m.  Units start on Jalan Awal and go to Jalan Akhir.
LADDER_NODES = [
    (0, 0.0, -0.001),
    (1, 0.0, 0.0),
    (2, 0.0, 0.002),
    (3, 0.0, 0.004),
    (4, 0.0, 0.005),
    (10, 0.001, 0.0),
    (11, 0.001, 0.004),
]
LADDER_WAYS = [
    (1, [0, 1], {"highway": "residential", "name": "Jalan Awal"}),
    (2, [1, 2, 3], {"highway": "residential", "name": "Jalan Lurus"}),
    (3, [1, 10, 11, 3], {"highway": "residential", "name": "Jalan Memutar"}),
    (4, [3, 4], {"highway": "residential", "name": "Jalan Akhir"}),
]
START, END = (LAT0, LON0 - 0.0005), (LAT0, LON0 + 0.0045)
LURUS_S = 0.004 * 110_700 / RESIDENTIAL_MPS  # free-flow time of Jalan Lurus, about 80 s
DETOUR_EXTRA_S = (0.006 - 0.004) * 110_700 / RESIDENTIAL_MPS  # about 40 s more


@pytest.fixture
def ladder(make_graph, clock) -> Router:
    router = Router(make_graph(LADDER_NODES, LADDER_WAYS), clock=clock)
    router.congestion.map_camera("CAM-1", LAT0 + 0.0001, LON0 + 0.002, radius_m=30)
    return router


def test_camera_maps_to_the_road_it_sees(ladder: Router) -> None:
    camera = ladder.congestion.camera("CAM-1")
    roads = {ladder.graph.road_label(int(ladder.graph.edge_road[e])) for e in camera.edges}
    assert roads == {"Jalan Lurus"} and len(camera.edges) == 2  # both directions


def test_a_closed_road_is_left_by_car_and_reached_on_foot(ladder: Router, clock) -> None:
    ladder.congestion.apply_reading("CAM-1", "closed", clock())
    on_closed_road = (LAT0, LON0 + 0.001)
    [there] = ladder.travel_times_to(on_closed_road, [START], "ambulance")
    [back] = ladder.travel_times_to(START, [on_closed_road], "ambulance")
    # Leaving: a unit on the closed road drives off it (its 111 m, then 55 m of Jalan Awal).
    assert back.eta_s == pytest.approx(0.0015 * 110_700 / RESIDENTIAL_MPS, rel=0.01) and back.reachable
    # Reaching: the ambulance stops where Jalan Lurus is closed (node 1) and the crew walks 111 m.
    assert there.closed_road and not there.reachable and there.error is None
    assert there.stop == pytest.approx((LAT0, LON0))
    assert there.eta_s == pytest.approx(0.0005 * 110_700 / RESIDENTIAL_MPS, rel=0.01)
    assert there.walk_m == pytest.approx(0.001 * 110_700, rel=0.01)
    route = ladder.route(START, on_closed_road, "ambulance")
    assert route.closed_road and route.eta_s == pytest.approx(there.eta_s)
    assert route.walk_m == pytest.approx(there.walk_m)
    with pytest.raises(OutsideRoadNetwork, match="sees no road"):
        ladder.congestion.map_camera("CAM-X", LAT0 + 0.01, LON0, radius_m=50)


def test_heading_limits_what_a_camera_sees(make_graph, clock) -> None:
    router = Router(make_graph(LADDER_NODES, LADDER_WAYS), clock=clock)
    congestion = router.congestion
    # Between the two roads (55 m from each): looking north sees only the detour.
    north = congestion.map_camera("N", LAT0 + 0.0005, LON0 + 0.002, radius_m=80, heading_deg=0)
    both = congestion.map_camera("B", LAT0 + 0.0005, LON0 + 0.002, radius_m=80)
    label = router.graph.road_label
    assert {label(int(router.graph.edge_road[e])) for e in north.edges} == {"Jalan Memutar"}
    assert len(both.edges) == 4


def test_jam_on_the_direct_road_changes_the_route_and_raises_the_eta(ladder: Router, clock) -> None:
    before = ladder.route(START, END, "ambulance")
    assert before.distance_m == pytest.approx(0.005 * 110_700, rel=0.01)
    ladder.congestion.apply_reading("CAM-1", "jam", clock())
    after = ladder.route(START, END, "ambulance")
    assert after.distance_m == pytest.approx(before.distance_m + 0.002 * 110_700, rel=0.01)  # the detour
    assert after.eta_s == pytest.approx(before.eta_s + DETOUR_EXTRA_S, rel=0.01)
    assert after.eta_free_flow_s == pytest.approx(before.eta_s)
    assert after.congested_edges_on_route == ()
    [avoided] = after.congested_edges_avoided
    assert (avoided.camera, avoided.level, avoided.way_id, avoided.name) == ("CAM-1", "jam", 2, "Jalan Lurus")
    assert avoided.extra_delay_s == pytest.approx(4.0 * LURUS_S, rel=0.01)
    [eta] = ladder.travel_times_to(END, [START], "ambulance")
    assert eta.eta_s == pytest.approx(after.eta_s) and eta.distance_m == pytest.approx(after.distance_m)


def test_slow_reading_keeps_the_route_and_lists_the_edge_on_it(ladder: Router, clock) -> None:
    free = ladder.route(START, END, "ambulance")
    ladder.congestion.apply_reading("CAM-1", "slow", clock())
    slow = ladder.route(START, END, "ambulance")
    assert slow.distance_m == pytest.approx(free.distance_m)
    assert slow.eta_s == pytest.approx(free.eta_s + 0.5 * LURUS_S, rel=0.01)
    [on_route] = slow.congested_edges_on_route
    assert on_route.level == "slow" and on_route.extra_delay_s == pytest.approx(0.5 * LURUS_S, rel=0.01)
    assert slow.as_dict()["congested_edges_on_route"][0]["camera"] == "CAM-1"


def test_closed_road_is_impassable(ladder: Router, clock) -> None:
    ladder.congestion.apply_reading("CAM-1", "closed", clock())
    route = ladder.route(START, END, "ambulance")
    assert route.distance_m == pytest.approx(0.007 * 110_700, rel=0.01)
    [avoided] = route.congested_edges_avoided
    assert avoided.level == "closed" and avoided.extra_delay_s is None
    assert route.as_dict()["congested_edges_avoided"][0]["extra_delay_s"] is None


def test_reading_expires_and_is_refreshed(ladder: Router, clock) -> None:
    congestion = ladder.congestion
    free_eta = ladder.route(START, END, "ambulance").eta_s
    congestion.apply_reading("CAM-1", "jam", clock())
    clock.advance(10 * 60)
    congestion.apply_reading("CAM-1", "jam", clock())  # refreshes the 15 minutes
    clock.advance(10 * 60)
    assert ladder.route(START, END, "ambulance").eta_s > free_eta
    assert congestion.snapshot()["CAM-1"].expires_at == clock() + timedelta(minutes=5)
    clock.advance(5 * 60)
    assert ladder.route(START, END, "ambulance").eta_s == pytest.approx(free_eta)
    assert congestion.snapshot() == {}


def test_older_reading_does_not_overwrite_a_newer_one(ladder: Router, clock) -> None:
    congestion = ladder.congestion
    congestion.apply_reading("CAM-1", "jam", clock())
    kept = congestion.apply_reading("CAM-1", "free", clock() - timedelta(minutes=1))
    assert kept.level == "jam"
    assert congestion.snapshot()["CAM-1"].level == "jam"
    congestion.apply_reading("CAM-1", "free", clock())
    assert congestion.snapshot()["CAM-1"].level == "free"
    assert len(congestion.state().edge_ids) == 0


def test_snapshot_for_the_map(ladder: Router, clock) -> None:
    reading = ladder.congestion.apply_reading("CAM-1", "heavy", clock())
    snapshot = ladder.congestion.snapshot()
    assert snapshot == {"CAM-1": reading}
    assert snapshot["CAM-1"].as_dict() == {
        "camera": "CAM-1",
        "level": "heavy",
        "observed_at": clock().isoformat(),
        "expires_at": (clock() + timedelta(minutes=15)).isoformat(),
    }


def test_bad_readings(ladder: Router, clock) -> None:
    congestion = ladder.congestion
    with pytest.raises(UnknownCamera, match="CAM-404"):
        congestion.apply_reading("CAM-404", "jam", clock())
    with pytest.raises(BadCongestionLevel, match="gridlock"):
        congestion.apply_reading("CAM-1", "gridlock", clock())
    with pytest.raises(ValueError, match="timezone-aware"):
        congestion.apply_reading("CAM-1", "jam", datetime(2025, 1, 1, 8, 0))
    with pytest.raises(BadCongestionLevel):
        congestion.apply_readings([("CAM-1", "jam", clock()), ("CAM-1", "bad", clock())])
    assert congestion.snapshot() == {}  # the batch was refused whole
    with pytest.raises(UnknownCamera):
        congestion.unmap_camera("nope")


def test_levels_and_ttl_are_configurable(make_graph, clock) -> None:
    graph = make_graph(LADDER_NODES, LADDER_WAYS)
    congestion = CongestionModel(graph, levels={"ok": 1.0, "crawl": 3.0}, ttl_s=60, clock=clock)
    router = Router(graph, congestion=congestion, clock=clock)
    congestion.map_camera("C", LAT0, LON0 + 0.002, radius_m=20)
    free = router.route(START, END, "ambulance").eta_s
    congestion.apply_reading("C", "crawl")
    assert router.route(START, END, "ambulance").eta_s == pytest.approx(free + DETOUR_EXTRA_S, rel=0.01)
    clock.advance(61)
    assert router.route(START, END, "ambulance").eta_s == pytest.approx(free)
    with pytest.raises(BadCongestionLevel):
        congestion.apply_reading("C", "jam")
    with pytest.raises(ValueError):
        CongestionModel(graph, levels={"odd": 0.0})


def test_updates_while_other_threads_route(ladder: Router, clock) -> None:
    free = ladder.route(START, END, "ambulance")
    ladder.congestion.apply_reading("CAM-1", "jam", clock())
    jammed = ladder.route(START, END, "ambulance")
    expected = {round(free.eta_s, 6), round(jammed.eta_s, 6)}
    stop = threading.Event()
    seen: set[float] = set()
    errors: list[BaseException] = []

    def route_repeatedly() -> None:
        try:
            while not stop.is_set():
                seen.add(round(ladder.route(START, END, "ambulance").eta_s, 6))
                [eta] = ladder.travel_times_to(END, [START], "ambulance")
                seen.add(round(eta.eta_s, 6))
        except BaseException as exc:  # reported by the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=route_repeatedly) for _ in range(3)]
    for thread in threads:
        thread.start()
    for i in range(300):
        clock.advance(0.001)
        ladder.congestion.apply_reading("CAM-1", "jam" if i % 2 else "free", clock())
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors
    assert seen <= expected and len(seen) >= 1


def test_the_version_changes_with_the_edge_times_not_with_each_reading(ladder: Router, clock) -> None:
    """Cameras repeat their level every minute or so: a repeat, or a free reading coming and
    going, leaves every edge time as it was, so the version (and every search and weight a router
    keeps for it) stays; a new level is a new version, and so is the old level once it is back."""
    congestion = ladder.congestion
    free = congestion.state().version
    congestion.apply_reading("CAM-1", "free", clock())
    assert congestion.state().version == free
    congestion.apply_reading("CAM-1", "jam", clock())
    jam = congestion.state()
    assert jam.version != free and len(jam.edge_ids) > 0
    eta = ladder.route(START, END, "ambulance").eta_s
    clock.advance(60)
    congestion.apply_reading("CAM-1", "jam", clock())  # the same level a minute later
    again = congestion.state()
    assert again.version == jam.version
    assert again.readings["CAM-1"].expires_at > jam.readings["CAM-1"].expires_at  # the reading did count
    assert ladder.route(START, END, "ambulance").eta_s == eta
    congestion.apply_reading("CAM-1", "slow", clock())
    slow = congestion.state().version
    assert slow not in (jam.version, free)
    congestion.apply_reading("CAM-1", "jam", clock())
    assert congestion.state().version not in (slow, jam.version)  # jam again: never mistaken for the old one
    assert ladder.route(START, END, "ambulance").eta_s == eta
