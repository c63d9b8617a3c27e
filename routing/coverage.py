"""Coverage: how much of the road network the available units reach within a travel-time
target (NFPA 1710: 240 s for the first engine), and which move of one unit to a post
recovers the most of it (pure: a Router and plain positions in, plain values out).

Definitions (the figures the dispatcher sees and the tests check by brute force):

* A unit is put on the nearest road its vehicle profile may use (as the router does) and
  leaves it by the rest of its edge in either direction it may drive.  Times are the
  profile's live edge weights (camera congestion; a closed road is ``inf``).
* A *node* is covered when some origin reaches it within the target (``<= target_s``).
* Each road the profile may drive counts half its length at each of its two end nodes (the
  node's *weight*).  Covered road length = the weight of the covered nodes: a road with both
  ends reached counts whole, with one end half.  The share is covered / total weight.
  Roads the vehicle may not use (alleys for a fire engine) are in neither figure.
* A district's share is the same sum over the nodes nearest to that district's cameras.

One multi-source Dijkstra (scipy, ``min_only``, ``limit=target_s``) per profile gives the
coverage.  A move-up needs each unit's own reach set and each post's: they are computed in
blocks of origins (``limit`` keeps each search local), the posts' once per live weights, and
the gain of every (unit, post) move comes from sparse matrix products over per-node coverage
counts, never from a search per move:

    gain(u, p) = w(B_p ∩ {count = 0}) − w(A_u ∩ {count = 1}) + w(A_u ∩ B_p ∩ {count = 1})
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from routing.graph import RoadGraph
from routing.map_layer import decimals_for, line_feature, pixel_deg
from routing.router import Router
from routing.targets import AT_NODE_M

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
LatLon = tuple[float, float]

#: NFPA 1710: travel time of the first-arriving engine company (and of a BLS unit).
DEFAULT_TARGET_S = 240.0
#: Origins per Dijkstra block when each origin's own reach set is needed (memory: block × nodes).
BLOCK = 32
#: A move must win at least this much road (m) to be suggested (below: rounding noise).
MIN_GAIN_M = 1.0
#: The zoom the uncovered-roads layer is simplified for (half a pixel: about 2 m).
LAYER_ZOOM = 15


@dataclass(frozen=True)
class Coverage:
    """Coverage of one profile from a set of origins (see the module's definitions)."""

    profile: str
    target_s: float
    covered: Bools  # per node
    weight_m: F64  # per node: half the length of each usable road that ends there
    located: Bools  # per origin: on a usable road within the router's snap limit
    counts: I64 | None = None  # per node: how many origins reach it (when reach sets were built)

    @property
    def total_m(self) -> float:
        return float(self.weight_m.sum())

    @property
    def covered_m(self) -> float:
        return float(self.weight_m[self.covered].sum())

    @property
    def share(self) -> float:
        total = self.total_m
        return self.covered_m / total if total > 0 else 0.0


@dataclass(frozen=True)
class MoveUp:
    """Move origin `unit` to post `post`: the coverage gained and the covered nodes after."""

    unit: int
    post: int
    gain_m: float
    covered_m_after: float
    share_after: float
    covered_after: Bools


def node_weights(graph: RoadGraph, edge_ok: Bools) -> F64:
    """Half the length of every road the profile may use (either direction), at each end node."""
    road_ok = np.zeros(graph.road_count, dtype=bool)
    road_ok[graph.edge_road[edge_ok]] = True
    half = np.where(road_ok, graph.road_length_m / 2.0, 0.0)
    n = graph.node_count
    weights = np.bincount(graph.road_start, half, minlength=n) + np.bincount(graph.road_end, half, minlength=n)
    return np.asarray(weights, dtype=np.float64)


class _Space:
    """The profile's forward graph on given weights, plus one virtual node per origin linked to
    the ends of its road by the partial edges it may drive (node index n + i for origin i)."""

    def __init__(self, router: Router, profile: str, weights: F64, origins: Sequence[LatLon]) -> None:
        g = router.graph
        n = g.node_count
        self.n = n
        k = len(origins)
        located = np.zeros(k, dtype=bool)
        link_rows: list[I64] = []
        link_nodes: list[I64] = []
        link_costs: list[F64] = []
        if k:
            pts = np.asarray(origins, dtype=np.float64).reshape(k, 2)
            finite = np.all(np.isfinite(pts), axis=1) & (np.abs(pts[:, 0]) <= 90) & (np.abs(pts[:, 1]) <= 180)
            good = np.flatnonzero(finite)
            snaps = router.locate(pts[good, 0], pts[good, 1], profile)
            near = (snaps.road >= 0) & (snaps.distance_m <= router.snap_limit_m)
            good, road, frac = good[near], snaps.road[near], snaps.fraction[near]
            located[good] = True
            free = router.free_flow_weights(profile)
            own = np.append(np.where(np.isfinite(weights), weights, free), np.inf)  # edge -1 → inf
            length = g.road_length_m[road]
            fwd, bwd = g.road_fwd_edge[road], g.road_bwd_edge[road]
            to_end = _partial(1.0 - frac, own[fwd])
            to_start = _partial(frac, own[bwd])
            to_start = np.where(frac * length <= AT_NODE_M, 0.0, to_start)
            to_end = np.where((1.0 - frac) * length <= AT_NODE_M, 0.0, to_end)
            for cost, node in ((to_end, g.road_end[road]), (to_start, g.road_start[road])):
                keep = np.isfinite(cost)
                link_rows.append(good[keep].astype(np.int64))
                link_nodes.append(node[keep].astype(np.int64))
                link_costs.append(cost[keep])
        rows = np.concatenate(link_rows) if link_rows else np.zeros(0, dtype=np.int64)
        nodes = np.concatenate(link_nodes) if link_nodes else np.zeros(0, dtype=np.int64)
        costs = np.concatenate(link_costs) if link_costs else np.zeros(0)
        order = np.argsort(rows, kind="stable")
        rows, nodes, costs = rows[order], nodes[order], costs[order]
        per_origin = np.bincount(rows, minlength=k)
        e = g.edge_count
        indptr = np.concatenate((g.indptr.astype(np.int64), e + np.cumsum(per_origin))).astype(np.int32)
        indices = np.concatenate((g.edge_head, nodes.astype(np.int32)))
        data = np.concatenate((weights, costs))
        self.matrix = csr_matrix((data, indices, indptr), shape=(n + k, n + k))
        self.located = located
        self.sources = n + np.flatnonzero(located)

    def nearest(self, limit: float) -> Bools:
        """Nodes within `limit` of any located origin (one multi-source search)."""
        if not len(self.sources):
            return np.zeros(self.n, dtype=bool)
        dist = dijkstra(self.matrix, directed=True, indices=self.sources, min_only=True, limit=limit)
        return np.asarray(np.isfinite(dist[: self.n]), dtype=bool)

    def reach(self, limit: float) -> csr_matrix:
        """Per origin (row, all origins; zero rows for those not located), the nodes within
        `limit` of it: a boolean sparse matrix, searched in blocks of origins."""
        k = len(self.located)
        row_parts: list[I64] = []
        col_parts: list[I64] = []
        sources = self.sources
        for start in range(0, len(sources), BLOCK):
            block = sources[start : start + BLOCK]
            dist = dijkstra(self.matrix, directed=True, indices=block, limit=limit)
            r, c = np.nonzero(np.isfinite(dist[:, : self.n]))
            row_parts.append((block[r] - self.n).astype(np.int64))
            col_parts.append(c.astype(np.int64))
        rows = np.concatenate(row_parts) if row_parts else np.zeros(0, dtype=np.int64)
        cols = np.concatenate(col_parts) if col_parts else np.zeros(0, dtype=np.int64)
        data = np.ones(len(rows), dtype=np.float64)
        return csr_matrix((data, (rows, cols)), shape=(k, self.n))


def _partial(share: F64, weight: F64) -> F64:
    with np.errstate(invalid="ignore"):
        return np.asarray(np.where(share <= 0.0, 0.0, share * weight), dtype=np.float64)


@dataclass
class _PostReach:
    weights: F64  # the live weights the reach sets were searched on (identity = version)
    reach: csr_matrix
    located: Bools


class CoverageEngine:
    """Coverage and move-up suggestions on one router; thread-safe, share one per process.
    Keeps the posts' reach sets per (profile, target, posts) until the live weights change."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._lock = threading.Lock()
        self._posts: dict[tuple[str, float, tuple[LatLon, ...]], _PostReach] = {}
        self._weights_of: dict[str, F64] = {}

    @property
    def graph(self) -> RoadGraph:
        return self.router.graph

    def weights(self, profile: str) -> F64:
        return self.router.live_weights(profile)

    def node_weights(self, profile: str) -> F64:
        found = self._weights_of.get(profile)
        if found is None:
            found = node_weights(self.graph, self.router.edge_mask(profile))
            found.flags.writeable = False
            self._weights_of[profile] = found
        return found

    def coverage(self, profile: str, origins: Sequence[LatLon], target_s: float = DEFAULT_TARGET_S) -> Coverage:
        """Which nodes the origins reach within `target_s` on live weights (one search)."""
        _check_target(target_s)
        space = _Space(self.router, profile, self.weights(profile), origins)
        return Coverage(profile, target_s, space.nearest(target_s), self.node_weights(profile), space.located)

    def move_ups(
        self,
        profile: str,
        origins: Sequence[LatLon],
        posts: Sequence[LatLon],
        target_s: float = DEFAULT_TARGET_S,
        count: int = 3,
    ) -> tuple[Coverage, list[MoveUp], Bools]:
        """The coverage now, the best `count` moves of one origin to one post (distinct units and
        posts, each judged alone against the coverage now, best first, only moves that gain), and
        which posts are on the profile's roads."""
        now, units, post = self._reach_sets(profile, origins, posts, target_s)
        w = now.weight_m
        counts = now.counts if now.counts is not None else np.zeros(len(w), dtype=np.int64)
        moves = best_moves(units, post.reach, counts, w, count)
        total = now.total_m
        out = []
        for u, p, gain in moves:
            after = (counts - units[u].toarray().ravel() + post.reach[p].toarray().ravel()) > 0
            covered_m = float(w[after].sum())
            out.append(MoveUp(u, p, gain, covered_m, covered_m / total if total > 0 else 0.0, after))
        return now, out, post.located

    def gains(
        self, profile: str, origins: Sequence[LatLon], posts: Sequence[LatLon], target_s: float = DEFAULT_TARGET_S
    ) -> tuple[Coverage, F64]:
        """The coverage now and the road (m) every move of one origin to one post would gain
        (origins × posts; rows and columns of those not on the profile's roads gain nothing)."""
        now, units, post = self._reach_sets(profile, origins, posts, target_s)
        counts = now.counts if now.counts is not None else np.zeros(len(now.weight_m), dtype=np.int64)
        return now, gain_matrix(units, post.reach, counts, now.weight_m)

    def _reach_sets(
        self, profile: str, origins: Sequence[LatLon], posts: Sequence[LatLon], target_s: float
    ) -> tuple[Coverage, csr_matrix, _PostReach]:
        _check_target(target_s)
        weights = self.weights(profile)
        space = _Space(self.router, profile, weights, origins)
        units = space.reach(target_s)
        post = self._post_reach(profile, target_s, tuple(posts), weights)
        counts = np.asarray(units.sum(axis=0), dtype=np.int64).ravel()
        return Coverage(profile, target_s, counts > 0, self.node_weights(profile), space.located, counts), units, post

    def _post_reach(self, profile: str, target_s: float, posts: tuple[LatLon, ...], weights: F64) -> _PostReach:
        key = (profile, float(target_s), posts)
        with self._lock:
            found = self._posts.get(key)
        if found is not None and found.weights is weights:
            return found
        space = _Space(self.router, profile, weights, posts)
        found = _PostReach(weights, space.reach(target_s), space.located)
        with self._lock:
            if len(self._posts) > 64:  # stale keys (other post sets, old targets)
                self._posts.clear()
            self._posts[key] = found
        return found


def best_moves(
    units: csr_matrix, posts: csr_matrix, counts: I64, weight: F64, count: int
) -> list[tuple[int, int, float]]:
    """(unit, post, gain in m) of the best moves, distinct units and posts, best first, each gaining
    at least MIN_GAIN_M: the gain of every pair at once from per-node coverage counts."""
    if units.shape[0] == 0 or posts.shape[0] == 0 or count <= 0:
        return []
    gain = gain_matrix(units, posts, counts, weight)
    order = np.argsort(-gain.ravel(), kind="stable")  # ties: the lower unit, then post, first
    chosen: list[tuple[int, int, float]] = []
    used_units: set[int] = set()
    used_posts: set[int] = set()
    for flat in order.tolist():
        value = float(gain.flat[flat])
        if value < MIN_GAIN_M or len(chosen) >= count:
            break
        u, p = divmod(flat, gain.shape[1])
        if u in used_units or p in used_posts:
            continue
        chosen.append((u, p, value))
        used_units.add(u)
        used_posts.add(p)
    return chosen


def gain_matrix(units: csr_matrix, posts: csr_matrix, counts: I64, weight: F64) -> F64:
    """Road (m) gained by moving each unit (row of `units`, its reach set) to each post: what the
    post newly covers, less what only the unit covered and the post does not (the module's formula)."""
    zero = weight * (counts == 0)
    one = weight * (counts == 1)
    gained = np.asarray(posts @ zero, dtype=np.float64).ravel()  # (posts,)
    alone = np.asarray(units @ one, dtype=np.float64).ravel()  # (units,)
    kept = np.asarray((units.multiply(one[np.newaxis, :]).tocsr() @ posts.T).toarray(), dtype=np.float64)
    return np.asarray(gained[np.newaxis, :] - alone[:, np.newaxis] + kept, dtype=np.float64)


def _check_target(target_s: float) -> None:
    if not (math.isfinite(target_s) and target_s > 0):
        raise ValueError(f"coverage target must be a positive number of seconds, got {target_s!r}")


# -- districts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Districts:
    """Each node's district (index into `names`, -1 for none): that of the nearest camera."""

    names: tuple[str, ...]
    of_node: I64

    @classmethod
    def nearest(cls, graph: RoadGraph, points: Sequence[LatLon], labels: Sequence[str]) -> Districts:
        names = tuple(sorted(set(labels)))
        if not points:
            return cls(names, np.full(graph.node_count, -1, dtype=np.int64))
        index = {name: i for i, name in enumerate(names)}
        label_ids = np.array([index[label] for label in labels], dtype=np.int64)
        pts = np.asarray(points, dtype=np.float64).reshape(len(points), 2)
        px, py = graph.projection.to_xy(pts[:, 0], pts[:, 1])
        nx_, ny_ = graph.projection.to_xy(graph.node_lat, graph.node_lon)
        _, nearest = cKDTree(np.column_stack((px, py))).query(np.column_stack((nx_, ny_)))
        return cls(names, label_ids[np.asarray(nearest, dtype=np.int64)])

    def shares(self, weight: F64, covered: Bools) -> dict[str, tuple[float, float]]:
        """district → (covered m, total m)."""
        k = len(self.names)
        mine = self.of_node >= 0
        total = np.bincount(self.of_node[mine], weight[mine], minlength=k)
        done = np.bincount(self.of_node[mine], (weight * covered)[mine], minlength=k)
        return {name: (float(done[i]), float(total[i])) for i, name in enumerate(self.names)}


# -- the map layer -------------------------------------------------------------------------


def uncovered_layer(graph: RoadGraph, edge_ok: Bools, covered: Bools, zoom: int = LAYER_ZOOM) -> dict[str, Any]:
    """The usable roads not wholly covered as GeoJSON: one MultiLineString feature for roads with
    neither end reached (`covered_ends` 0) and one for roads with one end reached (1), merged end
    to end, simplified to half a pixel at `zoom` and rounded like the road layer."""
    road_ok = np.zeros(graph.road_count, dtype=bool)
    road_ok[graph.edge_road[edge_ok]] = True
    ends = covered[graph.road_start].astype(np.int64) + covered[graph.road_end].astype(np.int64)
    mid_lat = float(np.mean(graph.node_lat)) if graph.node_count else 0.0
    tolerance = 0.5 * pixel_deg(zoom) * math.cos(math.radians(mid_lat))
    decimals = decimals_for(zoom)
    features: list[dict[str, Any]] = []
    for covered_ends in (0, 1):
        roads = np.flatnonzero(road_ok & (ends == covered_ends))
        if not len(roads):
            continue
        lo, hi = graph.road_ptr[roads], graph.road_ptr[roads + 1]
        count = hi - lo
        idx = np.repeat(lo, count) + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
        coords = np.column_stack((graph.coord_lon[idx], graph.coord_lat[idx]))
        lines = shapely.linestrings(coords, indices=np.repeat(np.arange(len(roads)), count))
        merged = shapely.line_merge(shapely.multilinestrings(lines))
        feature = line_feature(merged, tolerance, decimals, {"covered_ends": covered_ends})
        if feature is not None:
            features.append(feature)
    return {"type": "FeatureCollection", "features": features}


def parse_targets(text: str, known: Sequence[str], default_s: float = DEFAULT_TARGET_S) -> Mapping[str, float]:
    """`"fire_engine:240,ambulance:480"` → a target (s) for every known type (the rest `default_s`);
    ValueError names the bad part."""
    targets = dict.fromkeys(known, default_s)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, seconds_text = part.partition(":")
        name = name.strip()
        try:
            seconds = float(seconds_text)
        except ValueError:
            raise ValueError(f"coverage target {part!r}: expected TYPE:SECONDS") from None
        if name not in targets:
            raise ValueError(f"coverage target {part!r}: unknown unit type (known: {', '.join(known)})")
        if not 10 <= seconds <= 3600:
            raise ValueError(f"coverage target {part!r}: 10 to 3600 seconds")
        targets[name] = seconds
    return targets
