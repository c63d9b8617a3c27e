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
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.congestion import CongestionModel, CongestionState, utc_now
from routing.errors import OutsideRoadNetwork, RoutingError
from routing.geo import check_coordinate, great_circle_m
from routing.geometry import line_string, road_slice
from routing.graph import RoadGraph
from routing.profiles import DEFAULT_PROFILES, VehicleProfile, get_profile
from routing.search import Links, SearchResult, path_nodes, search_from, search_to, tree_lengths
from routing.snap import SegmentIndex, Snaps

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
LatLon = tuple[float, float]

DEFAULT_SNAP_LIMIT_M = 500.0
DEFAULT_MAX_WALK_M = 1000.0
WALKING_SPEED_MPS = 1.3
#: A position this close to a road's end is at that node: it may leave or be reached in
#: any direction the node allows, even on a one-way road.
AT_NODE_M = 0.01
#: Stopping before a closure and walking must beat driving by more than this (rounding
#: must not relabel the same way as a closed road's).
STRICTLY_SOONER_S = 1e-6
#: Reverse searches kept per router (by target, profile and congestion version): on Porto
#: Alegre one takes 0.23 MB and ~3 ms to compute, so 48 MB keeps ~200 incident × profile pairs.
DEFAULT_FIELD_CACHE_MB = 48.0


class NoRoute(RoutingError, ValueError):
    """No road path joins the two positions for this vehicle (closed roads, islands)."""


@dataclass(frozen=True)
class TravelTime:
    """One source's way to the target.

    `eta_s`: driving time to `stop` on live weights (``math.inf`` when there is no path or
    `error` is set); `distance_m`: road distance of that path; `reachable`: the vehicle can
    drive to the target's own road position (else it stops at `stop` and its crew walks
    `walk_m` metres along the roads, `walk_s` seconds); `snap_distance_m`: how far the
    source was from the road it was put on; `error`: why this source has no answer;
    `closed_road`: the vehicle stops at `stop` because a camera closed the way on.
    """

    eta_s: float
    distance_m: float
    reachable: bool
    walk_m: float
    walk_s: float
    snap_distance_m: float
    stop: LatLon | None
    error: str | None = None
    closed_road: bool = False

    @property
    def arrival_s(self) -> float:
        """Driving plus walking time: what a ranking of units should sort by."""
        return self.eta_s + self.walk_s


@dataclass(frozen=True)
class CongestedEdge:
    """An edge slowed or closed by a camera reading, on or off a route."""

    camera: str
    level: str
    edge: int
    way_id: int
    name: str
    extra_delay_s: float | None  # None: closed

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera": self.camera,
            "level": self.level,
            "edge": self.edge,
            "way_id": self.way_id,
            "name": self.name,
            "extra_delay_s": self.extra_delay_s,
        }


@dataclass(frozen=True)
class Route:
    """The best route on live weights from origin to destination.

    `eta_s`: its time with the congestion now; `eta_free_flow_s`: the time of the best route
    when no camera slowed anything (that route may differ: its congested edges that this
    route avoids are `congested_edges_avoided`).  `geometry` is a GeoJSON LineString from
    the origin's road position to `stop` along the real road shapes; `closed_road`: the
    vehicle stops there because a camera closed the way on (the crew walks `walk_m`).
    """

    profile: str
    geometry: dict[str, Any]
    eta_s: float
    eta_free_flow_s: float
    distance_m: float
    reachable: bool
    walk_m: float
    walk_s: float
    stop: LatLon
    origin_snap_distance_m: float
    destination_snap_distance_m: float
    congested_edges_on_route: tuple[CongestedEdge, ...] = ()
    congested_edges_avoided: tuple[CongestedEdge, ...] = ()
    closed_road: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (all floats finite)."""
        return {
            "profile": self.profile,
            "geometry": self.geometry,
            "eta_s": self.eta_s,
            "eta_free_flow_s": self.eta_free_flow_s,
            "distance_m": self.distance_m,
            "reachable": self.reachable,
            "walk_m": self.walk_m,
            "walk_s": self.walk_s,
            "closed_road": self.closed_road,
            "stop": {"lat": self.stop[0], "lon": self.stop[1]},
            "origin_snap_distance_m": self.origin_snap_distance_m,
            "destination_snap_distance_m": self.destination_snap_distance_m,
            "congested_edges_on_route": [e.as_dict() for e in self.congested_edges_on_route],
            "congested_edges_avoided": [e.as_dict() for e in self.congested_edges_avoided],
        }


@dataclass(frozen=True)
class _Profile:
    profile: VehicleProfile
    edge_ok: npt.NDArray[np.bool_]
    road_ok: npt.NDArray[np.bool_]
    free_s: F64  # free-flow edge times for this vehicle, inf where it may not drive
    index: SegmentIndex
    can_stop: npt.NDArray[np.bool_]  # nodes the vehicle can drive into


@dataclass(frozen=True)
class _Weights:
    version: int
    forward: F64  # edge order
    reverse: F64  # transposed-graph order
    own_ext: F64  # to leave or reach a position on an edge: free-flow where closed; inf appended (edge -1)
    closed: I64  # edges the profile may use that a camera closed


@dataclass(frozen=True)
class _Target:
    """Where a vehicle must get to: a road position, or a stop node when it may not enter it."""

    road: int
    fraction: float
    snap_distance_m: float
    point: LatLon
    stop_node: int  # -1: the road position itself is reached
    walk_m: float
    stop: LatLon


@dataclass(frozen=True)
class _Closure:
    """A reverse search to every node a vehicle may stop at before a closure near the target."""

    walk: F64  # metres on foot from each node to the target (inf beyond the cap)
    cost_s: F64  # driving + walking time from each node, stopping before the closure
    lengths: F64  # driving metres of that path
    entry_nodes: I64  # the stop node each node's path ends at


@dataclass(frozen=True)
class _Field:
    """Everything a reverse search from one target gives, whatever the sources."""

    goal: _Target
    cost_s: F64
    lengths: F64
    closure: _Closure | None

    @property
    def nbytes(self) -> int:
        size = self.cost_s.nbytes + self.lengths.nbytes
        if self.closure is not None:
            c = self.closure
            size += c.walk.nbytes + c.cost_s.nbytes + c.lengths.nbytes + c.entry_nodes.nbytes
        return size


class _FieldCache:
    """The most recently used fields, within `budget` bytes (0: none kept)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self._items: OrderedDict[tuple[str, float, float, int], _Field] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, float, float, int]) -> _Field | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[str, float, float, int], field: _Field) -> None:
        size = field.nbytes
        if size > self.budget:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = field
            self.used += size
            while self.used > self.budget:
                _, dropped = self._items.popitem(last=False)
                self.used -= dropped.nbytes


@dataclass
class _Leg:
    cost_s: float
    length_m: float
    edges: list[tuple[int, float]] = field(default_factory=list)  # (edge, share used)
    coordinates: list[tuple[float, float]] = field(default_factory=list)  # (lat, lon)


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
    ) -> None:
        if not (snap_limit_m > 0 and max_walk_m >= 0 and walking_speed_mps > 0):
            raise ValueError("snap_limit_m and walking_speed_mps must be positive, max_walk_m not negative")
        self.graph = graph
        self.profiles = dict(profiles)
        self.congestion = congestion if congestion is not None else CongestionModel(graph, clock=clock)
        self.clock = clock
        self.snap_limit_m = snap_limit_m
        self.max_walk_m = max_walk_m
        self.walking_speed_mps = walking_speed_mps
        self._lock = threading.Lock()
        self._profiles: dict[str, _Profile] = {}
        self._weights: dict[str, _Weights] = {}
        self._fields = _FieldCache(int(field_cache_mb * 1e6))

    # -- public API -------------------------------------------------------------------

    def travel_times_to(self, target: LatLon, sources: Sequence[LatLon], profile: str) -> list[TravelTime]:
        """Live travel time of each source to `target` (both (lat, lon)), one reverse search.

        A bad or off-network source gets a result with `error` set; a bad target raises
        ValueError / OutsideRoadNetwork.
        """
        prof = self._profile(profile)
        if not sources:
            self._target(target, prof)  # a bad target raises all the same
            return []
        state = self.congestion.state()
        w = self._live(prof, state)
        field = self._field(target, prof, w)
        goal = field.goal
        lats, lons, errors = _source_coordinates(sources)
        good = np.flatnonzero(np.isfinite(lats)) if errors else None
        snaps = prof.index.snap(lats, lons) if good is None else prof.index.snap(lats[good], lons[good])
        cost, dist, _via = self._source_costs(snaps.road, snaps.fraction, goal, w, field.cost_s, field.lengths)
        snap_m = snaps.distance_m
        walk_s = goal.walk_m / self.walking_speed_mps
        on_foot = self._around_closures(field, w, snaps.road, snaps.fraction, cost + walk_s)
        # Every result of this query shares these fields (in field order); eta_s,
        # distance_m and snap_distance_m are set per source.
        shared = {
            "eta_s": 0.0,
            "distance_m": 0.0,
            "reachable": goal.stop_node < 0,
            "walk_m": goal.walk_m,
            "walk_s": walk_s,
            "snap_distance_m": 0.0,
            "stop": goal.stop,
            "error": None,
            "closed_road": False,
        }
        out = _travel_times(shared, cost.tolist(), dist.tolist(), snap_m.tolist())
        if on_foot is not None:
            g = self.graph
            for k, node, drive_s, metres, walk_m in on_foot:
                walk = float(walk_m)
                stop = (float(g.node_lat[node]), float(g.node_lon[node]))
                out[k] = TravelTime(
                    drive_s, metres, False, walk, walk / self.walking_speed_mps, float(snap_m[k]), stop, None, True
                )
                cost[k] = drive_s
        failed = np.flatnonzero(~(snap_m <= self.snap_limit_m) | (cost == math.inf))
        for k in failed.tolist():
            i = k if good is None else int(good[k])
            snap = float(snap_m[k])
            if not snap <= self.snap_limit_m:
                out[k] = _failed(self._outside_message(f"source {i}", snap, prof), snap)
            else:
                out[k] = _failed(f"source {i}: no road path to the target for {prof.profile.name}", snap)
        if good is None:
            return out
        full = [_failed(errors.get(i, f"source {i}: bad position")) for i in range(len(sources))]
        for k, i in enumerate(good.tolist()):
            full[i] = out[k]
        return full

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
        prof = self._profile(profile)
        lat, lon = check_coordinate(*origin, name="origin")
        goal = self._target(destination, prof)
        snaps = prof.index.snap(np.array([lat]), np.array([lon]))
        origin_snap_m = float(snaps.distance_m[0])
        if not origin_snap_m <= self.snap_limit_m:
            raise OutsideRoadNetwork(self._outside_message("origin", origin_snap_m, prof), distance_m=origin_snap_m)
        road, frac = int(snaps.road[0]), float(snaps.fraction[0])
        state = self.congestion.state()
        live = self._live(prof, state)
        leg = self._best_leg(road, frac, goal, live.forward, prof)
        walk_m, stop, closed_road = goal.walk_m, goal.stop, False
        stops = self._closure_stops(goal, prof, live)
        if stops is not None:  # a closure near the scene: maybe stop before it and walk
            links, walk = stops
            exits = self._road_links(road, frac, live.forward, prof, leaving=True)
            found = search_from(self.graph, live.forward, exits)
            arrival = found.cost_s[links.nodes] + links.cost_s
            k = int(np.argmin(arrival))
            driving = math.inf if leg is None else leg.cost_s + goal.walk_m / self.walking_speed_mps
            if math.isfinite(float(arrival[k])) and float(arrival[k]) < driving - STRICTLY_SOONER_S:
                node = int(links.nodes[k])
                leg = self._graph_leg(found, exits, Links.cheapest([(node, 0.0, 0.0, -1, 0.0)]), 0, road, frac, goal)
                walk_m, closed_road = float(walk[node]), True
                stop = (float(self.graph.node_lat[node]), float(self.graph.node_lon[node]))
        if leg is None:
            raise NoRoute(f"no road path from origin to destination for {prof.profile.name}")
        on_route = self._congested(leg.edges, state, prof)
        free_eta = leg.cost_s
        avoided: tuple[CongestedEdge, ...] = ()
        if len(state.edge_ids):
            free = self._best_leg(road, frac, goal, prof.free_s, prof)
            if free is not None:
                free_eta = free.cost_s
                used = {edge for edge, _ in leg.edges}
                avoided = self._congested([e for e in free.edges if e[0] not in used], state, prof)
        return Route(
            profile=prof.profile.name,
            geometry=line_string(leg.coordinates),
            eta_s=leg.cost_s,
            eta_free_flow_s=free_eta,
            distance_m=leg.length_m,
            reachable=goal.stop_node < 0 and not closed_road,
            walk_m=walk_m,
            walk_s=walk_m / self.walking_speed_mps,
            stop=stop,
            origin_snap_distance_m=origin_snap_m,
            destination_snap_distance_m=goal.snap_distance_m,
            congested_edges_on_route=on_route,
            congested_edges_avoided=avoided,
            closed_road=closed_road,
        )

    def snap(self, position: LatLon, profile: str | None = None) -> tuple[LatLon, float]:
        """The nearest road point (of roads `profile` may use, or of any road) and its distance."""
        lat, lon = check_coordinate(*position)
        index = self._all_roads() if profile is None else self._profile(profile).index
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
        prof = self._profile(profile)
        return self._live(prof, self.congestion.state()).forward

    # -- profiles and weights ---------------------------------------------------------

    def _all_roads(self) -> SegmentIndex:
        index: SegmentIndex = self.graph.lazy("segments:all", lambda: SegmentIndex(self.graph))
        return index

    def _profile(self, name: str) -> _Profile:
        found = self._profiles.get(name)
        if found is not None:
            return found
        vehicle = get_profile(self.profiles, name)
        with self._lock:
            found = self._profiles.get(name)
            if found is None:
                g = self.graph
                road_ok = vehicle.road_mask(g)
                edge_ok = road_ok[g.edge_road]
                free = np.where(edge_ok, g.edge_time_s / vehicle.speed_factor, np.inf)
                free.flags.writeable = False
                can_stop = np.zeros(g.node_count, dtype=bool)
                can_stop[g.edge_head[edge_ok]] = True
                index = SegmentIndex(g, road_ok) if not road_ok.all() else self._all_roads()
                found = _Profile(vehicle, edge_ok, road_ok, free, index, can_stop)
                self._profiles[name] = found
        return found

    def _live(self, prof: _Profile, state: CongestionState) -> _Weights:
        name = prof.profile.name
        cached = self._weights.get(name)
        if cached is not None and cached.version == state.version:
            return cached
        forward = prof.free_s.copy()
        if len(state.edge_ids):
            forward[state.edge_ids] *= state.factors
        forward.flags.writeable = False
        reverse = forward[self.graph.rev_perm]
        reverse.flags.writeable = False
        own_ext = np.append(np.where(np.isfinite(forward), forward, prof.free_s), np.inf)
        own_ext.flags.writeable = False
        closed = np.flatnonzero(np.isinf(forward) & prof.edge_ok).astype(np.int64)
        weights = _Weights(state.version, forward, reverse, own_ext, closed)
        with self._lock:
            self._weights[name] = weights
        return weights

    # -- targets and sources ----------------------------------------------------------

    def _target(self, position: LatLon, prof: _Profile) -> _Target:
        lat, lon = check_coordinate(*position, name="target")
        snaps = self._all_roads().snap(np.array([lat]), np.array([lon]))
        dist = float(snaps.distance_m[0])
        if not dist <= self.snap_limit_m:
            raise OutsideRoadNetwork(self._outside_message("target", dist, None), distance_m=dist)
        road, frac = int(snaps.road[0]), float(snaps.fraction[0])
        point = (float(snaps.lat[0]), float(snaps.lon[0]))
        if prof.road_ok[road]:
            return _Target(road, frac, dist, point, -1, 0.0, point)
        node, walk_m = self._walk_to_drivable(road, frac, prof)
        if node < 0:  # nothing drivable within walking distance along roads: nearest usable road
            near = prof.index.snap(np.array([lat]), np.array([lon]))
            if not float(near.distance_m[0]) <= self.snap_limit_m:
                raise OutsideRoadNetwork(self._outside_message("target", float(near.distance_m[0]), prof))
            r = int(near.road[0])
            f = float(near.fraction[0])
            stop = (float(near.lat[0]), float(near.lon[0]))
            node = int(self.graph.road_start[r] if f < 0.5 else self.graph.road_end[r])
            walk_m = great_circle_m(point[0], point[1], stop[0], stop[1])
        g = self.graph
        return _Target(road, frac, dist, point, node, walk_m, (float(g.node_lat[node]), float(g.node_lon[node])))

    def _walk_to_drivable(self, road: int, frac: float, prof: _Profile) -> tuple[int, float]:
        """Nearest node (by walking along any road) the vehicle can drive into, or (-1, inf)."""
        dist = np.where(prof.can_stop, self._walk_from(road, frac), np.inf)
        best = int(np.argmin(dist))
        return (best, float(dist[best])) if math.isfinite(dist[best]) else (-1, math.inf)

    def _walk_from(self, road: int, frac: float) -> F64:
        """Metres on foot along any road (closed ones too) from a road position to every node,
        inf beyond `max_walk_m`."""
        g = self.graph
        walk = self._walk_graph()
        n = g.node_count
        length = float(g.road_length_m[road])
        links = Links.cheapest(
            [
                (int(g.road_start[road]), frac * length, 0.0, -1, 0.0),
                (int(g.road_end[road]), (1.0 - frac) * length, 0.0, -1, 0.0),
            ]
        )
        indptr = np.append(walk.indptr, walk.indptr[-1] + 2).astype(np.int32)
        matrix = csr_matrix(
            (
                np.concatenate((walk.data, links.cost_s)),
                np.concatenate((walk.indices, links.nodes)).astype(np.int32),
                indptr,
            ),
            shape=(n + 1, n + 1),
        )
        dist: F64 = np.asarray(dijkstra(matrix, directed=True, indices=n, limit=self.max_walk_m)[:n], dtype=np.float64)
        return dist

    def _closure_stops(self, goal: _Target, prof: _Profile, w: _Weights) -> tuple[Links, F64] | None:
        """Where a vehicle may stop and its crew walk on, when a road closed by a camera lies
        within walking distance of the target: every node it can drive into within
        `max_walk_m` on foot (link cost: the walk's time), and the walk to every node.
        None when no closure is that near (then nothing changes)."""
        if not len(w.closed):
            return None
        g = self.graph
        walk = self._walk_from(goal.road, goal.fraction)
        if not (np.isfinite(walk[g.edge_tail[w.closed]]) | np.isfinite(walk[g.edge_head[w.closed]])).any():
            return None
        nodes = np.flatnonzero(prof.can_stop & np.isfinite(walk)).astype(np.int64)
        if not len(nodes):
            return None
        zeros = np.zeros(len(nodes))
        links = Links(nodes, walk[nodes] / self.walking_speed_mps, zeros, np.full(len(nodes), -1, np.int64), zeros)
        return links, walk

    def _field(self, target: LatLon, prof: _Profile, w: _Weights) -> _Field:
        """The reverse search from `target` on these weights (and around a closure near it),
        kept: a dispatcher's console asks again for the same incident while the units move,
        and only the units' side of the work changes."""
        lat, lon = check_coordinate(*target, name="target")
        key = (prof.profile.name, lat, lon, w.version)
        found = self._fields.get(key)
        if found is not None:
            return found
        g = self.graph
        goal = self._target(target, prof)
        entries = self._entries(goal, w.forward, prof)
        result = search_to(g, w.reverse, entries)
        lengths = tree_lengths(g, result, entries)
        closure = None
        stops = self._closure_stops(goal, prof, w)
        if stops is not None:
            links, walk = stops
            around = search_to(g, w.reverse, links)
            closure = _Closure(walk, around.cost_s, tree_lengths(g, around, links), _entry_nodes(around, g.node_count))
        field = _Field(goal, result.cost_s, lengths, closure)
        self._fields.put(key, field)
        return field

    def _around_closures(
        self, field: _Field, w: _Weights, roads: I64, fracs: F64, arrival_s: F64
    ) -> list[tuple[int, int, float, float, float]] | None:
        """Sources that arrive sooner (or at all) by stopping before a closure near the target
        and walking: (source index, stop node, driving s, driving m, walking m) of each."""
        closure = field.closure
        if closure is None:
            return None
        goal = field.goal
        at_stop = _Target(goal.road, goal.fraction, goal.snap_distance_m, goal.point, 0, 0.0, goal.point)
        cost, dist, via = self._source_costs(roads, fracs, at_stop, w, closure.cost_s, closure.lengths)
        better = np.flatnonzero(cost < arrival_s - STRICTLY_SOONER_S)
        if not len(better):
            return None
        node = closure.entry_nodes[via[better]]
        walk_m = closure.walk[node]
        drive_s = cost[better] - walk_m / self.walking_speed_mps
        columns = (better.tolist(), node.tolist(), drive_s.tolist(), dist[better].tolist(), walk_m.tolist())
        return list(zip(*columns, strict=True))

    def _walk_graph(self) -> csr_matrix:
        def build() -> csr_matrix:
            g = self.graph
            rows = np.concatenate((g.road_start, g.road_end))
            cols = np.concatenate((g.road_end, g.road_start))
            data = np.concatenate((g.road_length_m, g.road_length_m)) + 1e-9
            matrix = csr_matrix((data, (rows, cols)), shape=(g.node_count, g.node_count))
            matrix.sum_duplicates()
            return matrix

        matrix: csr_matrix = self.graph.lazy("walk-graph", build)
        return matrix

    def _entries(self, goal: _Target, w: F64, prof: _Profile) -> Links:
        """How the search reaches the target: the first part of its edge in either
        direction (or nothing of it when the position is at the edge's node), or the stop."""
        if goal.stop_node >= 0:
            return Links.cheapest([(goal.stop_node, 0.0, 0.0, -1, 0.0)])
        return self._road_links(goal.road, goal.fraction, w, prof, leaving=False)

    def _road_links(self, road: int, frac: float, w: F64, prof: _Profile, *, leaving: bool) -> Links:
        """Partial edges joining a position on `road` to the road's two nodes: leaving it
        (a source: the rest of its edge to the head) or arriving (a target: from the tail)."""
        g = self.graph
        length = float(g.road_length_m[road])
        start, end = int(g.road_start[road]), int(g.road_end[road])
        fwd, bwd = int(g.road_fwd_edge[road]), int(g.road_bwd_edge[road])
        rows: list[tuple[int, float, float, int, float]] = []
        along = (
            ((fwd, 1.0 - frac, end), (bwd, frac, start)) if leaving else ((fwd, frac, start), (bwd, 1.0 - frac, end))
        )
        for edge, share, node in along:
            if edge >= 0 and prof.edge_ok[edge]:
                # A closed road can be left but not driven into to reach the target.
                weight = _own_road_weight(w, prof, edge) if leaving else float(w[edge])
                rows.append((node, _partial(share, weight), share * length, edge, share))
        if frac * length <= AT_NODE_M:
            rows.append((start, 0.0, 0.0, -1, 0.0))
        if (1.0 - frac) * length <= AT_NODE_M:
            rows.append((end, 0.0, 0.0, -1, 0.0))
        return Links.cheapest(rows)

    def _source_costs(
        self, roads: I64, fracs: F64, goal: _Target, w: _Weights, to_goal: F64, lengths: F64
    ) -> tuple[F64, F64, I64]:
        """Each source's best cost, its path length and the node it goes through: via either
        end of its road, or straight along the road when it shares the target's road."""
        g = self.graph
        own_ext = w.own_ext  # a closed road can still be left
        fwd, bwd = g.road_fwd_edge[roads], g.road_bwd_edge[roads]
        length = g.road_length_m[roads]
        head, tail = g.road_end[roads], g.road_start[roads]
        rest = 1.0 - fracs
        to_head, to_tail = to_goal[head], to_goal[tail]
        via_head, via_tail = lengths[head], lengths[tail]
        # The first cheapest of: via the head, via the tail, at the tail, at the head.
        cost = _partial_v(rest, own_ext[fwd]) + to_head
        dist = rest * length + via_head
        via = head
        for c, m, node in (
            (_partial_v(fracs, own_ext[bwd]) + to_tail, fracs * length + via_tail, tail),
            (np.where(fracs * length <= AT_NODE_M, to_tail, np.inf), via_tail, tail),
            (np.where(rest * length <= AT_NODE_M, to_head, np.inf), via_head, head),
        ):
            better = c < cost
            if better.any():
                cost = np.where(better, c, cost)
                dist = np.where(better, m, dist)
                via = np.where(better, node, via)
        if goal.stop_node < 0:
            same = roads == goal.road
            if same.any():
                t = goal.fraction
                ahead = same & (fracs <= t) & (fwd >= 0)
                behind = same & (fracs >= t) & (bwd >= 0)
                c_ahead = np.where(ahead, _partial_v(t - fracs, own_ext[fwd]), np.inf)
                c_behind = np.where(behind, _partial_v(fracs - t, own_ext[bwd]), np.inf)
                direct = np.minimum(c_ahead, c_behind)
                better = direct < cost
                cost = np.where(better, direct, cost)
                dist = np.where(better, np.abs(t - fracs) * length, dist)
        return cost, dist, via.astype(np.int64)

    # -- one route --------------------------------------------------------------------

    def _best_leg(self, road: int, frac: float, goal: _Target, w: F64, prof: _Profile) -> _Leg | None:
        exits = self._road_links(road, frac, w, prof, leaving=True)
        entries = self._entries(goal, w, prof)
        best: _Leg | None = None
        if goal.stop_node < 0 and goal.road == road:
            best = self._direct_leg(road, frac, goal.fraction, w, prof)
        result = search_from(self.graph, w, exits)
        costs = result.cost_s[entries.nodes] + entries.cost_s
        if len(costs) and math.isfinite(float(costs.min())):
            k = int(np.argmin(costs))
            if best is None or float(costs[k]) < best.cost_s:
                best = self._graph_leg(result, exits, entries, k, road, frac, goal)
        return best

    def _direct_leg(self, road: int, s: float, t: float, w: F64, prof: _Profile) -> _Leg | None:
        g = self.graph
        edge = int(g.road_fwd_edge[road] if s <= t else g.road_bwd_edge[road])
        if edge < 0 or not prof.edge_ok[edge]:
            return None
        share = abs(t - s)
        coords = road_slice(g, road, s, t)
        return _Leg(
            _partial(share, _own_road_weight(w, prof, edge)),
            share * float(g.road_length_m[road]),
            [(edge, share)],
            coords,
        )

    def _graph_leg(
        self, result: SearchResult, exits: Links, entries: Links, k: int, road: int, frac: float, goal: _Target
    ) -> _Leg:
        g = self.graph
        end = int(entries.nodes[k])
        nodes = path_nodes(result, end, g.node_count)
        first = int(np.flatnonzero(exits.nodes == nodes[0])[0])
        edges: list[tuple[int, float]] = []
        coords: list[tuple[float, float]] = []
        length = float(exits.length_m[first])
        if exits.edge[first] >= 0:
            edge = int(exits.edge[first])
            edges.append((edge, float(exits.share[first])))
            coords.extend(road_slice(g, road, frac, 1.0 if g.edge_forward[edge] else 0.0))
        else:
            coords.append((float(g.node_lat[nodes[0]]), float(g.node_lon[nodes[0]])))
        if len(nodes) > 1:
            ids = g.find_edges(np.asarray(nodes[:-1]), np.asarray(nodes[1:]))
            length += float(g.edge_length_m[ids].sum())
            edges.extend((edge, 1.0) for edge in ids.tolist())
            coords.extend(_edge_shapes(g, ids))
        if entries.edge[k] >= 0:
            edge = int(entries.edge[k])
            edges.append((edge, float(entries.share[k])))
            length += float(entries.length_m[k])
            coords.extend(road_slice(g, goal.road, 0.0 if g.edge_forward[edge] else 1.0, goal.fraction))
        cost = float(result.cost_s[end] + entries.cost_s[k])
        return _Leg(cost, length, edges, coords)

    def _congested(
        self, edges: list[tuple[int, float]], state: CongestionState, prof: _Profile
    ) -> tuple[CongestedEdge, ...]:
        found: dict[int, CongestedEdge] = {}
        if not len(state.edge_ids):
            return ()
        for edge, share in edges:
            reading = state.reading_of(edge)
            if reading is None or share <= 0 or edge in found:
                continue
            delay = (reading.factor - 1.0) * float(prof.free_s[edge]) * share
            road = int(self.graph.edge_road[edge])
            found[edge] = CongestedEdge(
                camera=reading.code,
                level=reading.level,
                edge=edge,
                way_id=int(self.graph.road_way_id[road]),
                name=self.graph.road_label(road),
                extra_delay_s=delay if math.isfinite(delay) else None,
            )
        return tuple(found.values())

    def _outside_message(self, what: str, distance_m: float, prof: _Profile | None) -> str:
        roads = f"road usable by {prof.profile.name}" if prof is not None else "road"
        if not math.isfinite(distance_m):
            return f"{what} is outside the road network: no {roads} in the graph"
        return (
            f"{what} is outside the road network: {distance_m:.0f} m from the nearest {roads} "
            f"(limit {self.snap_limit_m:.0f} m)"
        )


def _source_coordinates(sources: Sequence[LatLon]) -> tuple[F64, F64, dict[int, str]]:
    """Latitudes and longitudes of the sources (NaN where bad) and why each bad one is bad."""
    try:
        array = np.asarray(sources, dtype=np.float64)
    except (TypeError, ValueError):
        array = np.zeros((0,))
    if array.shape == (len(sources), 2):
        lats, lons = array[:, 0].copy(), array[:, 1].copy()
        ok = np.isfinite(lats) & np.isfinite(lons) & (np.abs(lats) <= 90.0) & (np.abs(lons) <= 180.0)
        if ok.all():
            return lats, lons, {}
    lats, lons = np.full(len(sources), np.nan), np.full(len(sources), np.nan)
    errors: dict[int, str] = {}
    for i, position in enumerate(sources):
        try:
            lats[i], lons[i] = check_coordinate(*position, name=f"source {i}")
        except (TypeError, ValueError) as exc:
            errors[i] = str(exc)
    return lats, lons, errors


_new = object.__new__


def _travel_times(
    shared: dict[str, Any], etas: list[float], distances: list[float], snaps: list[float]
) -> list[TravelTime]:
    """TravelTimes built without the frozen dataclass's per-field __init__: the same
    objects (fields in the same order), about three times faster, which counts at hundreds
    of sources per query.  `shared` holds every field; eta_s, distance_m and
    snap_distance_m are then set per result."""
    out: list[TravelTime] = [_new(TravelTime) for _ in etas]
    for result, eta, metres, snap in zip(out, etas, distances, snaps, strict=True):
        fields = result.__dict__
        fields.update(shared)
        fields["eta_s"] = eta
        fields["distance_m"] = metres
        fields["snap_distance_m"] = snap
    return out


def _failed(message: str, snap_m: float = math.inf) -> TravelTime:
    return TravelTime(math.inf, math.inf, False, 0.0, 0.0, snap_m, None, message)


def _entry_nodes(result: SearchResult, n: int) -> I64:
    """For every node of a reverse search, the last graph node of its path before the
    virtual target (itself when it links to the target directly, or is unreached)."""
    pred = result.predecessor[:n].astype(np.int64)
    parent = np.where((pred >= 0) & (pred < n), pred, np.arange(n, dtype=np.int64))
    while True:  # pointer doubling: log2(tree depth) rounds
        jumped = parent[parent]
        if np.array_equal(jumped, parent):
            return parent
        parent = jumped


def _edge_shapes(g: RoadGraph, edges: I64) -> list[tuple[float, float]]:
    """(lat, lon) points of whole edges one after another, each along its direction of
    travel: every shape point of its road (what `road_slice` from 0 to 1 gives)."""
    roads = g.edge_road[edges]
    lo, hi = g.road_ptr[roads], g.road_ptr[roads + 1]
    count = hi - lo
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    forward = np.repeat(g.edge_forward[edges], count)
    index = np.where(forward, np.repeat(lo, count) + offset, np.repeat(hi - 1, count) - offset)
    return list(zip(g.coord_lat[index].tolist(), g.coord_lon[index].tolist(), strict=True))


def _own_road_weight(w: F64, prof: _Profile, edge: int) -> float:
    """The edge's live weight; free-flow when closed, so a position on a closed road can
    still be reached or left."""
    value = float(w[edge])
    return value if math.isfinite(value) else float(prof.free_s[edge])


def _partial(share: float, weight: float) -> float:
    return 0.0 if share <= 0.0 else share * weight


def _partial_v(share: F64, weight: F64) -> F64:
    with np.errstate(invalid="ignore"):
        return np.where(share <= 0.0, np.where(np.isfinite(weight), 0.0, np.inf), share * weight)
