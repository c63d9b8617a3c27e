"""Router: travel times from many units to an incident, and routes with geometry, for a
vehicle profile, on live (congested) edge weights.

Positions are snapped onto roads (`snap_limit_m`); a source leaves its road by the rest
of its edge, a target is reached by the first part of its edge, in either direction of a
two-way road.  When a vehicle may not use the target's road (a fire engine and a narrow
alley), it stops at the nearest node it can reach, found by walking along the roads
(`max_walk_m`), and the result says so: ``reachable=False``, `walk_m`, `stop`.

A road closed by a camera reading is never driven into to reach the target (a unit already
on it may still leave it).  When a closure lies within `max_walk_m` of the target, each
vehicle may instead stop at any node it can drive to within that walk and the crew walks
the rest along the roads (``closed_road=True``): a scene whose street or only access is
closed is still reached, on foot for the last part, never "no road path".  Past that cap
(1 km by default, some 13 minutes on foot) the scene counts as unreachable by road.

The Router is the facade: it checks positions, keeps each profile's roads and live
weights and the reverse searches, and hands the work to its modules: `travel_times`
(many units to one incident), `routes` (one route and its geometry), `targets` (road
positions, targets, walking, closures), `weights` (per profile and live), `snap`, `search`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt

from routing.congestion import CongestionModel, CongestionState, utc_now
from routing.errors import OutsideRoadNetwork, RoutingError
from routing.field_store import FieldStore
from routing.geo import check_coordinate
from routing.graph import RoadGraph
from routing.profiles import DEFAULT_PROFILES, VehicleProfile, get_profile
from routing.routes import Route, best_route
from routing.snap import Snaps
from routing.targets import Limits, find_target
from routing.travel_times import DEFAULT_FIELD_CACHE_MB, FieldCache, TravelTime, reverse_field, travel_times_to
from routing.weights import LiveWeights, VehicleRoads, every_road, live_weights, vehicle_roads

F64 = npt.NDArray[np.float64]
LatLon = tuple[float, float]

DEFAULT_SNAP_LIMIT_M = 500.0
DEFAULT_MAX_WALK_M = 1000.0
WALKING_SPEED_MPS = 1.3


class Router:
    """Routes on one RoadGraph; thread-safe, share one per process."""

    def __init__(
        self,
        graph: RoadGraph,
        profiles: Mapping[str, VehicleProfile] = DEFAULT_PROFILES,
        congestion: CongestionModel | None = None,
        clock: Callable[[], datetime] = utc_now,
        *,
        snap_limit_m: float = DEFAULT_SNAP_LIMIT_M,
        max_walk_m: float = DEFAULT_MAX_WALK_M,
        walking_speed_mps: float = WALKING_SPEED_MPS,
        field_cache_mb: float = DEFAULT_FIELD_CACHE_MB,
        field_store: FieldStore | None = None,
    ) -> None:
        if not (snap_limit_m > 0 and max_walk_m >= 0 and walking_speed_mps > 0):
            raise ValueError("snap_limit_m and walking_speed_mps must be positive, max_walk_m not negative")
        self.graph = graph
        self.profiles = dict(profiles)
        self.congestion = congestion if congestion is not None else CongestionModel(graph, clock=clock)
        self.clock = clock
        self.limits = Limits(snap_limit_m, max_walk_m, walking_speed_mps)
        self._lock = threading.Lock()
        self._profiles: dict[str, VehicleRoads] = {}
        self._weights: dict[str, LiveWeights] = {}
        self._fields = FieldCache(int(field_cache_mb * 1e6), field_store)

    @property
    def snap_limit_m(self) -> float:
        """A position farther than this from a usable road is outside the network."""
        return self.limits.snap_limit_m

    @property
    def max_walk_m(self) -> float:
        """The longest walk along the roads from where a vehicle stops to the scene."""
        return self.limits.max_walk_m

    @property
    def walking_speed_mps(self) -> float:
        return self.limits.walking_speed_mps

    # -- public API -------------------------------------------------------------------

    def travel_times_to(self, target: LatLon, sources: Sequence[LatLon], profile: str) -> list[TravelTime]:
        """Live travel time of each source to `target` (both (lat, lon)), one reverse search.

        A bad or off-network source gets a result with `error` set; a bad target raises
        ValueError / OutsideRoadNetwork.
        """
        roads = self._profile(profile)
        if not sources:
            find_target(self.graph, self.limits, target, roads)  # a bad target raises all the same
            return []
        w = self._live(roads, self.congestion.state())
        return travel_times_to(self.graph, self.limits, roads, w, self._fields, target, sources)

    def search_ahead(self, target: LatLon, profiles: Sequence[str]) -> None:
        """Do now the searches a ranking of units of `profiles` to `target` needs, and keep them
        (here, and in the field store every process shares): a new incident's, before the first
        dispatcher asks. Raises as travel_times_to does for a bad target."""
        for profile in profiles:
            roads = self._profile(profile)
            w = self._live(roads, self.congestion.state())
            reverse_field(self.graph, self.limits, roads, w, self._fields, target)

    def prepare(self) -> None:
        """Build now what a first query of each profile would: its road mask, snapping index,
        weights and search matrices (a server calls this at start, not its first dispatcher)."""
        g = self.graph
        if not g.node_count:
            return
        point = (float(g.node_lat[0]), float(g.node_lon[0]))
        for name in self.profiles:
            with contextlib.suppress(RoutingError, ValueError):
                self.travel_times_to(point, [point], name)

    def route(self, origin: LatLon, destination: LatLon, profile: str) -> Route:
        """The best live route, its geometry, ETA and the congestion it meets or avoids.

        Raises ValueError (bad coordinates), OutsideRoadNetwork, UnknownProfile, NoRoute.
        """
        roads = self._profile(profile)
        lat, lon = check_coordinate(*origin, name="origin")
        goal = find_target(self.graph, self.limits, destination, roads)
        snaps = roads.index.snap(np.array([lat]), np.array([lon]))
        origin_snap_m = float(snaps.distance_m[0])
        if not origin_snap_m <= self.limits.snap_limit_m:
            message = self.limits.outside_message("origin", origin_snap_m, roads)
            raise OutsideRoadNetwork(message, distance_m=origin_snap_m)
        start = (int(snaps.road[0]), float(snaps.fraction[0]), origin_snap_m)
        state = self.congestion.state()
        return best_route(self.graph, self.limits, roads, state, self._live(roads, state), start, goal)

    def snap(self, position: LatLon, profile: str | None = None) -> tuple[LatLon, float]:
        """The nearest road point (of roads `profile` may use, or of any road) and its distance."""
        lat, lon = check_coordinate(*position)
        index = every_road(self.graph) if profile is None else self._profile(profile).index
        snaps = index.snap(np.array([lat]), np.array([lon]))
        return (float(snaps.lat[0]), float(snaps.lon[0])), float(snaps.distance_m[0])

    def locate(self, lats: F64, lons: F64, profile: str) -> Snaps:
        """The nearest point of a road `profile` may use for each (finite) position, vectorised:
        road, fraction along it, distance (m); `snap_limit_m` is the caller's to apply."""
        index = self._profile(profile).index
        return index.snap(np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64))

    def edge_mask(self, profile: str) -> npt.NDArray[np.bool_]:
        """Which edges the profile may use (read-only)."""
        return self._profile(profile).edge_ok

    def free_flow_weights(self, profile: str) -> F64:
        """Free-flow edge times (s) of the profile in edge order, inf where it may not drive."""
        return self._profile(profile).free_s

    def live_weights(self, profile: str) -> F64:
        """Edge times (s) with the congestion now, inf where closed or not allowed."""
        roads = self._profile(profile)
        return self._live(roads, self.congestion.state()).forward

    # -- each profile's roads and live weights, built once --------------------------------

    def _profile(self, name: str) -> VehicleRoads:
        found = self._profiles.get(name)
        if found is not None:
            return found
        vehicle = get_profile(self.profiles, name)
        with self._lock:
            found = self._profiles.get(name)
            if found is None:
                found = vehicle_roads(self.graph, vehicle)
                self._profiles[name] = found
        return found

    def _live(self, roads: VehicleRoads, state: CongestionState) -> LiveWeights:
        name = roads.profile.name
        cached = self._weights.get(name)
        if cached is not None and cached.version == state.version:
            return cached
        weights = live_weights(self.graph, roads, state)
        with self._lock:
            self._weights[name] = weights
        return weights
