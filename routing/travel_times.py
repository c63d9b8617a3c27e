"""Many units to one incident: every source's live travel time to a target from one
reverse search, and the cache of those searches.

The reverse search from a target (a *field*: every node's cost and road distance to it,
and, when a camera closed a road near the scene, the same to every node a vehicle may stop
at before it) does not depend on the sources, so it is kept per target, profile and
congestion version: a dispatcher's console asks again for the same incident while the
units move, and only the units' side of the work changes.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from routing.geo import check_coordinate
from routing.graph import RoadGraph
from routing.search import SearchResult, search_to, tree_lengths
from routing.targets import AT_NODE_M, STRICTLY_SOONER_S, Limits, Target, closure_stops, entries, find_target
from routing.weights import LiveWeights, VehicleRoads, partial_v

if TYPE_CHECKING:
    from routing.field_store import FieldStore

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
LatLon = tuple[float, float]

#: Reverse searches kept per router (by target, profile and congestion version): on Porto
#: Alegre one takes 0.23 MB and ~3 ms to compute, so 48 MB keeps ~200 incident × profile pairs.
DEFAULT_FIELD_CACHE_MB = 48.0


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
class Closure:
    """A reverse search to every node a vehicle may stop at before a closure near the target."""

    walk: F64  # metres on foot from each node to the target (inf beyond the cap)
    cost_s: F64  # driving + walking time from each node, stopping before the closure
    lengths: F64  # driving metres of that path
    entry_nodes: I64  # the stop node each node's path ends at


@dataclass(frozen=True)
class Field:
    """Everything a reverse search from one target gives, whatever the sources."""

    goal: Target
    cost_s: F64
    lengths: F64
    closure: Closure | None

    @property
    def nbytes(self) -> int:
        size = self.cost_s.nbytes + self.lengths.nbytes
        if self.closure is not None:
            c = self.closure
            size += c.walk.nbytes + c.cost_s.nbytes + c.lengths.nbytes + c.entry_nodes.nbytes
        return size


FieldKey = tuple[str, float, float, int]  # profile, target lat, lon, congestion version


class FieldCache:
    """The most recently used fields, within `budget` bytes (0: none kept); behind it, when given,
    the `store` every process of the machine shares."""

    def __init__(self, budget: int, store: FieldStore | None = None) -> None:
        self.budget = budget
        self.store = store
        self.used = 0
        self._items: OrderedDict[FieldKey, Field] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: FieldKey) -> Field | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: FieldKey, field: Field) -> None:
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


def travel_times_to(
    graph: RoadGraph,
    limits: Limits,
    roads: VehicleRoads,
    w: LiveWeights,
    fields: FieldCache,
    target: LatLon,
    sources: Sequence[LatLon],
) -> list[TravelTime]:
    """Live travel time of each source to `target` on weights `w`, one reverse search (or
    none, when `fields` keeps it).  A bad or off-network source gets a result with `error`
    set; a bad target raises ValueError / OutsideRoadNetwork."""
    field = reverse_field(graph, limits, roads, w, fields, target)
    goal = field.goal
    lats, lons, errors = _source_coordinates(sources)
    good = np.flatnonzero(np.isfinite(lats)) if errors else None
    snaps = roads.index.snap(lats, lons) if good is None else roads.index.snap(lats[good], lons[good])
    cost, dist, _via = _source_costs(graph, snaps.road, snaps.fraction, goal, w, field.cost_s, field.lengths)
    snap_m = snaps.distance_m
    walk_s = goal.walk_m / limits.walking_speed_mps
    on_foot = _around_closures(graph, limits, field, w, snaps.road, snaps.fraction, cost + walk_s)
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
        g = graph
        for k, node, drive_s, metres, walk_m in on_foot:
            walk = float(walk_m)
            stop = (float(g.node_lat[node]), float(g.node_lon[node]))
            out[k] = TravelTime(
                drive_s, metres, False, walk, walk / limits.walking_speed_mps, float(snap_m[k]), stop, None, True
            )
            cost[k] = drive_s
    failed = np.flatnonzero(~(snap_m <= limits.snap_limit_m) | (cost == math.inf))
    for k in failed.tolist():
        i = k if good is None else int(good[k])
        snap = float(snap_m[k])
        if not snap <= limits.snap_limit_m:
            out[k] = _failed(limits.outside_message(f"source {i}", snap, roads), snap)
        else:
            out[k] = _failed(f"source {i}: no road path to the target for {roads.profile.name}", snap)
    if good is None:
        return out
    full = [_failed(errors.get(i, f"source {i}: bad position")) for i in range(len(sources))]
    for k, i in enumerate(good.tolist()):
        full[i] = out[k]
    return full


def reverse_field(
    graph: RoadGraph, limits: Limits, roads: VehicleRoads, w: LiveWeights, fields: FieldCache, target: LatLon
) -> Field:
    """The reverse search from `target` on these weights (and around a closure near it),
    from `fields` or computed and kept there."""
    lat, lon = check_coordinate(*target, name="target")
    key = (roads.profile.name, lat, lon, w.version)
    found = fields.get(key)
    if found is not None:
        return found
    store = fields.store
    name = store.name(graph, limits, roads, w, (lat, lon)) if store is not None else ""
    if store is not None:
        found = store.get(name, graph)
        if found is not None:
            fields.put(key, found)
            return found
    g = graph
    goal = find_target(graph, limits, target, roads)
    links = entries(graph, goal, w.forward, roads)
    result = search_to(g, w.reverse, links)
    lengths = tree_lengths(g, result, links)
    closure = None
    stops = closure_stops(graph, limits, goal, roads, w)
    if stops is not None:
        stop_links, walk = stops
        around = search_to(g, w.reverse, stop_links)
        closure = Closure(walk, around.cost_s, tree_lengths(g, around, stop_links), _entry_nodes(around, g.node_count))
    field = Field(goal, result.cost_s, lengths, closure)
    fields.put(key, field)
    if store is not None:
        store.put(name, field)
    return field


def _around_closures(
    graph: RoadGraph, limits: Limits, field: Field, w: LiveWeights, roads: I64, fracs: F64, arrival_s: F64
) -> list[tuple[int, int, float, float, float]] | None:
    """Sources that arrive sooner (or at all) by stopping before a closure near the target
    and walking: (source index, stop node, driving s, driving m, walking m) of each."""
    closure = field.closure
    if closure is None:
        return None
    goal = field.goal
    at_stop = Target(goal.road, goal.fraction, goal.snap_distance_m, goal.point, 0, 0.0, goal.point)
    cost, dist, via = _source_costs(graph, roads, fracs, at_stop, w, closure.cost_s, closure.lengths)
    better = np.flatnonzero(cost < arrival_s - STRICTLY_SOONER_S)
    if not len(better):
        return None
    node = closure.entry_nodes[via[better]]
    walk_m = closure.walk[node]
    drive_s = cost[better] - walk_m / limits.walking_speed_mps
    columns = (better.tolist(), node.tolist(), drive_s.tolist(), dist[better].tolist(), walk_m.tolist())
    return list(zip(*columns, strict=True))


def _source_costs(
    graph: RoadGraph, roads: I64, fracs: F64, goal: Target, w: LiveWeights, to_goal: F64, lengths: F64
) -> tuple[F64, F64, I64]:
    """Each source's best cost, its path length and the node it goes through: via either
    end of its road, or straight along the road when it shares the target's road."""
    g = graph
    own_ext = w.own_ext  # a closed road can still be left
    fwd, bwd = g.road_fwd_edge[roads], g.road_bwd_edge[roads]
    length = g.road_length_m[roads]
    head, tail = g.road_end[roads], g.road_start[roads]
    rest = 1.0 - fracs
    to_head, to_tail = to_goal[head], to_goal[tail]
    via_head, via_tail = lengths[head], lengths[tail]
    # The first cheapest of: via the head, via the tail, at the tail, at the head.
    cost = partial_v(rest, own_ext[fwd]) + to_head
    dist = rest * length + via_head
    via = head
    for c, m, node in (
        (partial_v(fracs, own_ext[bwd]) + to_tail, fracs * length + via_tail, tail),
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
            c_ahead = np.where(ahead, partial_v(t - fracs, own_ext[fwd]), np.inf)
            c_behind = np.where(behind, partial_v(fracs - t, own_ext[bwd]), np.inf)
            direct = np.minimum(c_ahead, c_behind)
            better = direct < cost
            cost = np.where(better, direct, cost)
            dist = np.where(better, np.abs(t - fracs) * length, dist)
    return cost, dist, via.astype(np.int64)


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
