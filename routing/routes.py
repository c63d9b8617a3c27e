"""One route: the best live path from a road position to a target, its geometry along the
real road shapes, its ETA with and without congestion, and the congested edges it meets
or avoids (a forward search from the origin, twice when a camera slows something)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from routing.congestion import CongestionState
from routing.errors import NoRoute
from routing.geometry import edge_shapes, line_string, road_slice
from routing.graph import RoadGraph
from routing.search import Links, SearchResult, path_nodes, search_from
from routing.targets import STRICTLY_SOONER_S, Limits, Target, closure_stops, entries, road_links
from routing.weights import LiveWeights, VehicleRoads, own_road_weight, partial

F64 = npt.NDArray[np.float64]
LatLon = tuple[float, float]


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


@dataclass
class _Leg:
    cost_s: float
    length_m: float
    edges: list[tuple[int, float]] = field(default_factory=list)  # (edge, share used)
    coordinates: list[tuple[float, float]] = field(default_factory=list)  # (lat, lon)


def best_route(
    graph: RoadGraph,
    limits: Limits,
    roads: VehicleRoads,
    state: CongestionState,
    live: LiveWeights,
    origin: tuple[int, float, float],
    goal: Target,
) -> Route:
    """The best route from `origin` (road, fraction along it, its snap distance) to `goal`
    on `live` weights (of congestion `state`).  Raises NoRoute."""
    road, frac, origin_snap_m = origin
    leg = _best_leg(graph, road, frac, goal, live.forward, roads)
    walk_m, stop, closed_road = goal.walk_m, goal.stop, False
    stops = closure_stops(graph, limits, goal, roads, live)
    if stops is not None:  # a closure near the scene: maybe stop before it and walk
        links, walk = stops
        exits = road_links(graph, road, frac, live.forward, roads, leaving=True)
        found = search_from(graph, live.forward, exits)
        arrival = found.cost_s[links.nodes] + links.cost_s
        k = int(np.argmin(arrival))
        driving = math.inf if leg is None else leg.cost_s + goal.walk_m / limits.walking_speed_mps
        if math.isfinite(float(arrival[k])) and float(arrival[k]) < driving - STRICTLY_SOONER_S:
            node = int(links.nodes[k])
            at_node = Links.cheapest([(node, 0.0, 0.0, -1, 0.0)])
            leg = _graph_leg(graph, found, exits, at_node, 0, road, frac, goal)
            walk_m, closed_road = float(walk[node]), True
            stop = (float(graph.node_lat[node]), float(graph.node_lon[node]))
    if leg is None:
        raise NoRoute(f"no road path from origin to destination for {roads.profile.name}")
    on_route = _congested(graph, leg.edges, state, roads)
    free_eta = leg.cost_s
    avoided: tuple[CongestedEdge, ...] = ()
    if len(state.edge_ids):
        free = _best_leg(graph, road, frac, goal, roads.free_s, roads)
        if free is not None:
            free_eta = free.cost_s
            used = {edge for edge, _ in leg.edges}
            avoided = _congested(graph, [e for e in free.edges if e[0] not in used], state, roads)
    return Route(
        profile=roads.profile.name,
        geometry=line_string(leg.coordinates),
        eta_s=leg.cost_s,
        eta_free_flow_s=free_eta,
        distance_m=leg.length_m,
        reachable=goal.stop_node < 0 and not closed_road,
        walk_m=walk_m,
        walk_s=walk_m / limits.walking_speed_mps,
        stop=stop,
        origin_snap_distance_m=origin_snap_m,
        destination_snap_distance_m=goal.snap_distance_m,
        congested_edges_on_route=on_route,
        congested_edges_avoided=avoided,
        closed_road=closed_road,
    )


def _best_leg(graph: RoadGraph, road: int, frac: float, goal: Target, w: F64, roads: VehicleRoads) -> _Leg | None:
    exits = road_links(graph, road, frac, w, roads, leaving=True)
    links = entries(graph, goal, w, roads)
    best: _Leg | None = None
    if goal.stop_node < 0 and goal.road == road:
        best = _direct_leg(graph, road, frac, goal.fraction, w, roads)
    result = search_from(graph, w, exits)
    costs = result.cost_s[links.nodes] + links.cost_s
    if len(costs) and math.isfinite(float(costs.min())):
        k = int(np.argmin(costs))
        if best is None or float(costs[k]) < best.cost_s:
            best = _graph_leg(graph, result, exits, links, k, road, frac, goal)
    return best


def _direct_leg(graph: RoadGraph, road: int, s: float, t: float, w: F64, roads: VehicleRoads) -> _Leg | None:
    """Straight along the road shared by origin and target, if the vehicle may drive that way."""
    g = graph
    edge = int(g.road_fwd_edge[road] if s <= t else g.road_bwd_edge[road])
    if edge < 0 or not roads.edge_ok[edge]:
        return None
    share = abs(t - s)
    coords = road_slice(g, road, s, t)
    return _Leg(
        partial(share, own_road_weight(w, roads, edge)),
        share * float(g.road_length_m[road]),
        [(edge, share)],
        coords,
    )


def _graph_leg(
    graph: RoadGraph,
    result: SearchResult,
    exits: Links,
    links: Links,
    k: int,
    road: int,
    frac: float,
    goal: Target,
) -> _Leg:
    """The leg through the graph that ends at entry `k` of `links`: its edges, length and shape."""
    g = graph
    end = int(links.nodes[k])
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
        coords.extend(edge_shapes(g, ids))
    if links.edge[k] >= 0:
        edge = int(links.edge[k])
        edges.append((edge, float(links.share[k])))
        length += float(links.length_m[k])
        coords.extend(road_slice(g, goal.road, 0.0 if g.edge_forward[edge] else 1.0, goal.fraction))
    cost = float(result.cost_s[end] + links.cost_s[k])
    return _Leg(cost, length, edges, coords)


def _congested(
    graph: RoadGraph, edges: list[tuple[int, float]], state: CongestionState, roads: VehicleRoads
) -> tuple[CongestedEdge, ...]:
    """The congested edges among `edges` (each once), with the delay of the share used."""
    found: dict[int, CongestedEdge] = {}
    if not len(state.edge_ids):
        return ()
    for edge, share in edges:
        reading = state.reading_of(edge)
        if reading is None or share <= 0 or edge in found:
            continue
        delay = (reading.factor - 1.0) * float(roads.free_s[edge]) * share
        road = int(graph.edge_road[edge])
        found[edge] = CongestedEdge(
            camera=reading.code,
            level=reading.level,
            edge=edge,
            way_id=int(graph.road_way_id[road]),
            name=graph.road_label(road),
            extra_delay_s=delay if math.isfinite(delay) else None,
        )
    return tuple(found.values())
