"""Road graph from OpenStreetMap, snapping, travel-time routing and camera congestion (pure).

Typical use (one graph and one router per process)::

    graph = routing.load_graph(extract_or_cache, cache_dir=instance / "roads")
    router = routing.Router(graph, clock=clock.now)
    router.congestion.map_camera("CAM-12", lat, lon, radius_m=60, heading_deg=90)
    router.congestion.apply_reading("CAM-12", "jam", observed_at)
    times = router.travel_times_to((lat, lon), unit_positions, "fire_engine")
    route = router.route(origin, destination, "ambulance")
"""

from routing.build import ImportOptions, build_graph
from routing.congestion import (
    DEFAULT_LEVELS,
    DEFAULT_TTL_S,
    Camera,
    CameraReading,
    CongestionModel,
    CongestionState,
    utc_now,
)
from routing.errors import (
    BadCongestionLevel,
    BadRoadData,
    NoRoute,
    OutsideRoadNetwork,
    RoutingError,
    UnknownCamera,
    UnknownProfile,
)
from routing.graph import RoadGraph
from routing.osm import RawWay, read_ways, ways_from_overpass
from routing.profiles import DEFAULT_PROFILES, DEFAULT_SPEEDS_KMH, VehicleProfile
from routing.router import DEFAULT_MAX_WALK_M, DEFAULT_SNAP_LIMIT_M, Router
from routing.routes import CongestedEdge, Route
from routing.store import cache_path_for, default_cache_dir, import_roads, load_graph
from routing.travel_times import TravelTime

__all__ = [
    "DEFAULT_LEVELS",
    "DEFAULT_MAX_WALK_M",
    "DEFAULT_PROFILES",
    "DEFAULT_SNAP_LIMIT_M",
    "DEFAULT_SPEEDS_KMH",
    "DEFAULT_TTL_S",
    "BadCongestionLevel",
    "BadRoadData",
    "Camera",
    "CameraReading",
    "CongestedEdge",
    "CongestionModel",
    "CongestionState",
    "ImportOptions",
    "NoRoute",
    "OutsideRoadNetwork",
    "RawWay",
    "RoadGraph",
    "Route",
    "Router",
    "RoutingError",
    "TravelTime",
    "UnknownCamera",
    "UnknownProfile",
    "VehicleProfile",
    "build_graph",
    "cache_path_for",
    "default_cache_dir",
    "import_roads",
    "load_graph",
    "read_ways",
    "utc_now",
    "ways_from_overpass",
]
