"""What a vehicle may drive and how long each edge takes it: once per profile (road and
edge masks, free-flow times, its snapping index, the nodes it can stop at) and live, with
the congestion now (per congestion version).  Also the cost of part of an edge, which
every search that starts or ends on a road position pays."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from routing.congestion import CongestionState
from routing.graph import RoadGraph
from routing.profiles import VehicleProfile
from routing.snap import SegmentIndex

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class VehicleRoads:
    """One profile on one graph: what it may use and its free-flow times."""

    profile: VehicleProfile
    edge_ok: npt.NDArray[np.bool_]
    road_ok: npt.NDArray[np.bool_]
    free_s: F64  # free-flow edge times for this vehicle, inf where it may not drive
    index: SegmentIndex
    can_stop: npt.NDArray[np.bool_]  # nodes the vehicle can drive into


@dataclass(frozen=True)
class LiveWeights:
    """A profile's edge times with one congestion version's readings."""

    version: int
    forward: F64  # edge order
    reverse: F64  # transposed-graph order
    own_ext: F64  # to leave or reach a position on an edge: free-flow where closed; inf appended (edge -1)
    closed: I64  # edges the profile may use that a camera closed


def every_road(graph: RoadGraph) -> SegmentIndex:
    """The snapping index of every road (targets snap to any road), built once per graph."""
    index: SegmentIndex = graph.lazy("segments:all", lambda: SegmentIndex(graph))
    return index


def vehicle_roads(graph: RoadGraph, vehicle: VehicleProfile) -> VehicleRoads:
    """Build what `vehicle` may use on `graph` (a router keeps it per profile)."""
    road_ok = vehicle.road_mask(graph)
    edge_ok = road_ok[graph.edge_road]
    free = np.where(edge_ok, graph.edge_time_s / vehicle.speed_factor, np.inf)
    free.flags.writeable = False
    can_stop = np.zeros(graph.node_count, dtype=bool)
    can_stop[graph.edge_head[edge_ok]] = True
    index = SegmentIndex(graph, road_ok) if not road_ok.all() else every_road(graph)
    return VehicleRoads(vehicle, edge_ok, road_ok, free, index, can_stop)


def live_weights(graph: RoadGraph, roads: VehicleRoads, state: CongestionState) -> LiveWeights:
    """The vehicle's edge times with the readings of `state` (read-only arrays)."""
    forward = roads.free_s.copy()
    if len(state.edge_ids):
        forward[state.edge_ids] *= state.factors
    forward.flags.writeable = False
    reverse = forward[graph.rev_perm]
    reverse.flags.writeable = False
    own_ext = np.append(np.where(np.isfinite(forward), forward, roads.free_s), np.inf)
    own_ext.flags.writeable = False
    closed = np.flatnonzero(np.isinf(forward) & roads.edge_ok).astype(np.int64)
    return LiveWeights(state.version, forward, reverse, own_ext, closed)


def own_road_weight(w: F64, roads: VehicleRoads, edge: int) -> float:
    """The edge's live weight; free-flow when closed, so a position on a closed road can
    still be reached or left."""
    value = float(w[edge])
    return value if math.isfinite(value) else float(roads.free_s[edge])


def partial(share: float, weight: float) -> float:
    """The cost of `share` of an edge (nothing of it costs nothing, even a closed one)."""
    return 0.0 if share <= 0.0 else share * weight


def partial_v(share: F64, weight: F64) -> F64:
    """`partial` over arrays; nothing of a closed edge stays impassable."""
    with np.errstate(invalid="ignore"):
        return np.where(share <= 0.0, np.where(np.isfinite(weight), 0.0, np.inf), share * weight)
