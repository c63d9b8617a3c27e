"""Where a search starts and ends on the roads: the partial edges that join a road
position to the graph (a source leaves its road by the rest of its edge, a target is
reached by the first part of its edge), the target a vehicle must get to (its road
position, or the nearest node it can drive into and the walk from there), and where it
may stop and walk when a camera closed a road near the scene."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.errors import OutsideRoadNetwork
from routing.geo import check_coordinate, great_circle_m
from routing.graph import RoadGraph
from routing.search import Links
from routing.weights import LiveWeights, VehicleRoads, every_road, own_road_weight, partial

F64 = npt.NDArray[np.float64]
LatLon = tuple[float, float]

#: A position this close to a road's end is at that node: it may leave or be reached in
#: any direction the node allows, even on a one-way road.
AT_NODE_M = 0.01
#: Stopping before a closure and walking must beat driving by more than this (rounding
#: must not relabel the same way as a closed road's).
STRICTLY_SOONER_S = 1e-6


@dataclass(frozen=True)
class Limits:
    """How far a position may be from a road, how far a crew walks, and how fast."""

    snap_limit_m: float
    max_walk_m: float
    walking_speed_mps: float

    def outside_message(self, what: str, distance_m: float, roads: VehicleRoads | None) -> str:
        """Why `what` is off the network (for the roads of a vehicle, or of any)."""
        kind = f"road usable by {roads.profile.name}" if roads is not None else "road"
        if not math.isfinite(distance_m):
            return f"{what} is outside the road network: no {kind} in the graph"
        return (
            f"{what} is outside the road network: {distance_m:.0f} m from the nearest {kind} "
            f"(limit {self.snap_limit_m:.0f} m)"
        )


@dataclass(frozen=True)
class Target:
    """Where a vehicle must get to: a road position, or a stop node when it may not enter it."""

    road: int
    fraction: float
    snap_distance_m: float
    point: LatLon
    stop_node: int  # -1: the road position itself is reached
    walk_m: float
    stop: LatLon


def road_links(graph: RoadGraph, road: int, frac: float, w: F64, roads: VehicleRoads, *, leaving: bool) -> Links:
    """Partial edges joining a position on `road` to the road's two nodes: leaving it
    (a source: the rest of its edge to the head) or arriving (a target: from the tail)."""
    g = graph
    length = float(g.road_length_m[road])
    start, end = int(g.road_start[road]), int(g.road_end[road])
    fwd, bwd = int(g.road_fwd_edge[road]), int(g.road_bwd_edge[road])
    rows: list[tuple[int, float, float, int, float]] = []
    along = ((fwd, 1.0 - frac, end), (bwd, frac, start)) if leaving else ((fwd, frac, start), (bwd, 1.0 - frac, end))
    for edge, share, node in along:
        if edge >= 0 and roads.edge_ok[edge]:
            # A closed road can be left but not driven into to reach the target.
            weight = own_road_weight(w, roads, edge) if leaving else float(w[edge])
            rows.append((node, partial(share, weight), share * length, edge, share))
    if frac * length <= AT_NODE_M:
        rows.append((start, 0.0, 0.0, -1, 0.0))
    if (1.0 - frac) * length <= AT_NODE_M:
        rows.append((end, 0.0, 0.0, -1, 0.0))
    return Links.cheapest(rows)


def entries(graph: RoadGraph, goal: Target, w: F64, roads: VehicleRoads) -> Links:
    """How a search reaches the target: the first part of its edge in either direction
    (or nothing of it when the position is at the edge's node), or the stop."""
    if goal.stop_node >= 0:
        return Links.cheapest([(goal.stop_node, 0.0, 0.0, -1, 0.0)])
    return road_links(graph, goal.road, goal.fraction, w, roads, leaving=False)


def find_target(graph: RoadGraph, limits: Limits, position: LatLon, roads: VehicleRoads) -> Target:
    """The target at `position` for this vehicle: snapped to any road; when the vehicle may
    not use that road, the nearest node it can drive into by walking along the roads.

    Raises ValueError (bad coordinates) and OutsideRoadNetwork.
    """
    lat, lon = check_coordinate(*position, name="target")
    snaps = every_road(graph).snap(np.array([lat]), np.array([lon]))
    dist = float(snaps.distance_m[0])
    if not dist <= limits.snap_limit_m:
        raise OutsideRoadNetwork(limits.outside_message("target", dist, None), distance_m=dist)
    road, frac = int(snaps.road[0]), float(snaps.fraction[0])
    point = (float(snaps.lat[0]), float(snaps.lon[0]))
    if roads.road_ok[road]:
        return Target(road, frac, dist, point, -1, 0.0, point)
    node, walk_m = _walk_to_drivable(graph, limits, road, frac, roads)
    if node < 0:  # nothing drivable within walking distance along roads: nearest usable road
        near = roads.index.snap(np.array([lat]), np.array([lon]))
        if not float(near.distance_m[0]) <= limits.snap_limit_m:
            raise OutsideRoadNetwork(limits.outside_message("target", float(near.distance_m[0]), roads))
        r = int(near.road[0])
        f = float(near.fraction[0])
        stop = (float(near.lat[0]), float(near.lon[0]))
        node = int(graph.road_start[r] if f < 0.5 else graph.road_end[r])
        walk_m = great_circle_m(point[0], point[1], stop[0], stop[1])
    g = graph
    return Target(road, frac, dist, point, node, walk_m, (float(g.node_lat[node]), float(g.node_lon[node])))


def closure_stops(
    graph: RoadGraph, limits: Limits, goal: Target, roads: VehicleRoads, w: LiveWeights
) -> tuple[Links, F64] | None:
    """Where a vehicle may stop and its crew walk on, when a road closed by a camera lies
    within walking distance of the target: every node it can drive into within
    `max_walk_m` on foot (link cost: the walk's time), and the walk to every node.
    None when no closure is that near (then nothing changes)."""
    if not len(w.closed):
        return None
    g = graph
    walk = walk_from(graph, limits, goal.road, goal.fraction)
    if not (np.isfinite(walk[g.edge_tail[w.closed]]) | np.isfinite(walk[g.edge_head[w.closed]])).any():
        return None
    nodes = np.flatnonzero(roads.can_stop & np.isfinite(walk)).astype(np.int64)
    if not len(nodes):
        return None
    zeros = np.zeros(len(nodes))
    links = Links(nodes, walk[nodes] / limits.walking_speed_mps, zeros, np.full(len(nodes), -1, np.int64), zeros)
    return links, walk


def walk_from(graph: RoadGraph, limits: Limits, road: int, frac: float) -> F64:
    """Metres on foot along any road (closed ones too) from a road position to every node,
    inf beyond `max_walk_m`."""
    g = graph
    walk = _walk_graph(graph)
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
    dist: F64 = np.asarray(dijkstra(matrix, directed=True, indices=n, limit=limits.max_walk_m)[:n], dtype=np.float64)
    return dist


def _walk_to_drivable(
    graph: RoadGraph, limits: Limits, road: int, frac: float, roads: VehicleRoads
) -> tuple[int, float]:
    """Nearest node (by walking along any road) the vehicle can drive into, or (-1, inf)."""
    dist = np.where(roads.can_stop, walk_from(graph, limits, road, frac), np.inf)
    best = int(np.argmin(dist))
    return (best, float(dist[best])) if math.isfinite(dist[best]) else (-1, math.inf)


def _walk_graph(graph: RoadGraph) -> csr_matrix:
    """Every road both ways, weighted by its length: the network on foot (built once)."""

    def build() -> csr_matrix:
        g = graph
        rows = np.concatenate((g.road_start, g.road_end))
        cols = np.concatenate((g.road_end, g.road_start))
        data = np.concatenate((g.road_length_m, g.road_length_m)) + 1e-9
        matrix = csr_matrix((data, (rows, cols)), shape=(g.node_count, g.node_count))
        matrix.sum_duplicates()
        return matrix

    matrix: csr_matrix = graph.lazy("walk-graph", build)
    return matrix
