"""Snapping positions to the nearest point of a road (not just the nearest node).

A uniform grid answers most positions: each cell lists every segment that comes within
`GRID_MARGIN_M` of it, so a position at most that far from its nearest road finds it
among its cell's few segments (exactly: any nearer segment is listed too).  The rest go
to a KD-tree over points sampled every few metres along every road segment, which finds
the candidate segments of many positions in one vectorised query; an exact projection
onto those segments picks the nearest point.  A position whose K nearest samples could
hide a nearer segment is re-checked with a radius query, so the answer is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from routing.geo import haversine_m
from routing.graph import RoadGraph

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

SAMPLE_SPACING_M = 10.0
CANDIDATES = 8
#: Beyond this distance a snap is exact only to within spacing_m / 2 (no snap limit is
#: that large; the answer is a rejection either way).
EXACT_WITHIN_M = 5000.0
#: Grid cell side and margin: a cell lists the segments within GRID_MARGIN_M of it.
GRID_CELL_M = 40.0
GRID_MARGIN_M = 40.0


@dataclass(frozen=True)
class Snaps:
    """Snapped positions, one row per input position (vectorised).

    `road` is -1 where the index has no road at all.  `fraction` runs along the road's
    geometry, 0 at its start node and 1 at its end node.
    """

    road: I64
    fraction: F64
    distance_m: F64
    lat: F64
    lon: F64


class SegmentIndex:
    """Nearest-road queries over the roads selected by `road_mask` (all when None)."""

    def __init__(
        self, graph: RoadGraph, road_mask: npt.NDArray[np.bool_] | None = None, spacing_m: float = SAMPLE_SPACING_M
    ) -> None:
        self.graph = graph
        self.spacing_m = spacing_m
        ptr = graph.road_ptr
        roads = np.arange(graph.road_count) if road_mask is None else np.flatnonzero(road_mask)
        counts = (ptr[roads + 1] - ptr[roads] - 1).astype(np.int64)
        self.seg_road: I64 = np.repeat(roads, counts).astype(np.int64)
        starts = np.repeat(ptr[roads] - (np.cumsum(counts) - counts), counts)
        k = (starts + np.arange(int(counts.sum()))).astype(np.int64)  # first coordinate of segment
        x, y = graph.projection.to_xy(graph.coord_lat, graph.coord_lon)
        self.x0, self.y0, self.x1, self.y1 = x[k], y[k], x[k + 1], y[k + 1]
        hav = haversine_m(graph.coord_lat[k], graph.coord_lon[k], graph.coord_lat[k + 1], graph.coord_lon[k + 1])
        along = cumulative_along_road(graph)
        length = graph.road_length_m[self.seg_road]
        safe = np.where(length > 0, length, 1.0)
        self.frac0: F64 = np.where(length > 0, along[k] / safe, 0.0)
        self.frac_span: F64 = np.where(length > 0, hav / safe, 0.0)
        planar = np.hypot(self.x1 - self.x0, self.y1 - self.y0)
        pieces = np.maximum(np.ceil(planar / spacing_m), 1).astype(np.int64)
        # One KD-tree point per piece of segment no longer than spacing_m, at its middle:
        # every point of a segment is within spacing_m / 2 of one of its tree points.
        self.sample_seg: I64 = np.repeat(np.arange(len(k)), pieces)
        offsets = np.cumsum(pieces) - pieces
        tau = (np.arange(len(self.sample_seg)) - np.repeat(offsets, pieces) + 0.5) / np.repeat(pieces, pieces)
        s = self.sample_seg
        points = np.column_stack(
            (self.x0[s] + tau * (self.x1[s] - self.x0[s]), self.y0[s] + tau * (self.y1[s] - self.y0[s]))
        )
        self.tree = cKDTree(points) if len(points) else None
        self.dx, self.dy = self.x1 - self.x0, self.y1 - self.y0
        norm = self.dx * self.dx + self.dy * self.dy
        self.inv_norm: F64 = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)  # 0: a point
        self.grid = _Grid(self.x0, self.y0, self.x1, self.y1)

    def snap(self, lats: F64, lons: F64) -> Snaps:
        """Nearest road point of each (lat, lon); inputs must be finite (checked by callers)."""
        px, py = self.graph.projection.to_xy(np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64))
        n = len(px)
        if self.tree is None or n == 0:
            nan = np.full(n, np.nan)
            return Snaps(np.full(n, -1, dtype=np.int64), nan, np.full(n, np.inf), nan, nan)
        best_seg, best_tau, best_d = self.grid.nearest(self, px, py)
        rows = np.flatnonzero(~(best_d <= self.grid.margin_m - 1e-6))  # not settled by the grid
        if len(rows):
            self._nearest_by_tree(px, py, rows, best_seg, best_tau, best_d)
        sx = self.x0[best_seg] + best_tau * (self.x1[best_seg] - self.x0[best_seg])
        sy = self.y0[best_seg] + best_tau * (self.y1[best_seg] - self.y0[best_seg])
        lat, lon = self.graph.projection.to_latlon(sx, sy)
        fraction = np.clip(self.frac0[best_seg] + best_tau * self.frac_span[best_seg], 0.0, 1.0)
        return Snaps(self.seg_road[best_seg], fraction, best_d, lat, lon)

    def _nearest_by_tree(self, px: F64, py: F64, rows: I64, best_seg: I64, best_tau: F64, best_d: F64) -> None:
        """Nearest segment of positions `rows` by the KD-tree, written into best_*."""
        if self.tree is None:
            return
        pts = np.column_stack((px, py))
        for k in (CANDIDATES, 8 * CANDIDATES):
            k = min(k, self.tree.n)
            knn_d, knn_i = self.tree.query(pts[rows], k=k)
            knn_d = knn_d.reshape(len(rows), k)
            segs = self.sample_seg[knn_i.reshape(len(rows), k)]
            best_seg[rows], best_tau[rows], best_d[rows] = self._nearest_of(px[rows, None], py[rows, None], segs)
            if k == self.tree.n:
                rows = rows[:0]
                break
            # A nearer segment can hide only behind tree points farther than the K-th one.
            rows = rows[knn_d[:, -1] <= best_d[rows] + self.spacing_m / 2.0]
            if not len(rows):
                break
        for row in rows[best_d[rows] <= EXACT_WITHIN_M]:
            found = self.tree.query_ball_point(pts[row], best_d[row] + self.spacing_m / 2.0 + 1e-6)
            cand = np.unique(self.sample_seg[np.asarray(found, dtype=np.int64)])[None, :]
            seg, tau, dist = self._nearest_of(px[row : row + 1, None], py[row : row + 1, None], cand)
            best_seg[row], best_tau[row], best_d[row] = seg[0], tau[0], dist[0]

    def _project(self, px: F64, py: F64, segs: I64) -> tuple[F64, F64]:
        """Where (tau, 0..1 along) each point is nearest its segment, and the squared
        distance (broadcast)."""
        ex, ey = px - self.x0.take(segs), py - self.y0.take(segs)
        dx, dy = self.dx.take(segs), self.dy.take(segs)
        tau = (ex * dx + ey * dy) * self.inv_norm.take(segs)
        np.clip(tau, 0.0, 1.0, out=tau)
        ex -= tau * dx
        ey -= tau * dy
        return tau, ex * ex + ey * ey

    def _nearest_of(self, px: F64, py: F64, segs: I64) -> tuple[I64, F64, F64]:
        tau, dist2 = self._project(px, py, segs)
        col = np.argmin(dist2, axis=1)
        rows = np.arange(len(col))
        return segs[rows, col].astype(np.int64), tau[rows, col], np.sqrt(dist2[rows, col])

    def roads_within(
        self, lat: float, lon: float, radius_m: float, heading_deg: float | None = None, fov_deg: float = 90.0
    ) -> I64:
        """Roads with a point within `radius_m` of (lat, lon); with a heading, only those
        whose nearest point lies inside the camera's field of view (or under it)."""
        if self.tree is None:
            return np.zeros(0, dtype=np.int64)
        px, py = self.graph.projection.to_xy(np.array([lat]), np.array([lon]))
        found = self.tree.query_ball_point((px[0], py[0]), radius_m + self.spacing_m / 2.0)
        if not found:
            return np.zeros(0, dtype=np.int64)
        segs = np.unique(self.sample_seg[np.asarray(found, dtype=np.int64)])
        x0, y0 = self.x0[segs], self.y0[segs]
        dx, dy = self.x1[segs] - x0, self.y1[segs] - y0
        norm = dx * dx + dy * dy
        tau = np.where(
            norm > 0, np.clip(((px[0] - x0) * dx + (py[0] - y0) * dy) / np.where(norm > 0, norm, 1.0), 0, 1), 0
        )
        nx, ny = x0 + tau * dx - px[0], y0 + tau * dy - py[0]
        keep = np.hypot(nx, ny) <= radius_m
        if heading_deg is not None:
            # Nearest points may sit beside the camera; also accept any sampled point of the
            # segment inside the cone, so a road crossing the view is kept.
            keep &= _in_view(segs, self, px[0], py[0], radius_m, heading_deg, fov_deg)
        return np.unique(self.seg_road[segs[keep]])


class _Grid:
    """Uniform grid over the segments: the occupied cells (sorted ids) and, per cell, the
    segments whose bounding box grown by `margin_m` meets it."""

    def __init__(
        self, x0: F64, y0: F64, x1: F64, y1: F64, cell_m: float = GRID_CELL_M, margin_m: float = GRID_MARGIN_M
    ):
        self.cell_m = cell_m
        self.margin_m = margin_m
        if not len(x0):
            self.xmin = self.ymin = 0.0
            self.width = self.height = 0
            self.ids = np.zeros(0, dtype=np.int64)
            self.ptr = np.zeros(1, dtype=np.int64)
            self.segs = np.zeros(0, dtype=np.int64)
            return
        self.xmin = float(min(x0.min(), x1.min())) - margin_m
        self.ymin = float(min(y0.min(), y1.min())) - margin_m
        cx0, cy0 = self._cell(np.minimum(x0, x1) - margin_m, np.minimum(y0, y1) - margin_m)
        cx1, cy1 = self._cell(np.maximum(x0, x1) + margin_m, np.maximum(y0, y1) + margin_m)
        self.width, self.height = int(cx1.max()) + 1, int(cy1.max()) + 1
        wide, high = cx1 - cx0 + 1, cy1 - cy0 + 1
        count = wide * high
        seg = np.repeat(np.arange(len(x0), dtype=np.int64), count)
        k = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        cell = (cy0[seg] + k // wide[seg]) * self.width + cx0[seg] + k % wide[seg]
        order = np.argsort(cell, kind="stable")
        cell = cell[order]
        self.segs = seg[order]
        self.ids, start = np.unique(cell, return_index=True)
        self.ptr = np.append(start, len(cell)).astype(np.int64)

    def _cell(self, x: F64, y: F64) -> tuple[I64, I64]:
        cx = np.floor((x - self.xmin) / self.cell_m).astype(np.int64)
        cy = np.floor((y - self.ymin) / self.cell_m).astype(np.int64)
        return cx, cy

    def nearest(self, index: SegmentIndex, px: F64, py: F64) -> tuple[I64, F64, F64]:
        """Nearest listed segment of each point, its tau and distance (inf when the cell
        lists none).  Exact where the distance is at most `margin_m`."""
        n = len(px)
        best_seg = np.zeros(n, dtype=np.int64)
        best_tau, best_d = np.zeros(n), np.full(n, np.inf)
        if not len(self.ids):
            return best_seg, best_tau, best_d
        cx, cy = self._cell(px, py)
        inside = (cx >= 0) & (cx < self.width) & (cy >= 0) & (cy < self.height)
        cell = np.where(inside, cy * self.width + cx, -1)
        pos = np.minimum(np.searchsorted(self.ids, cell), len(self.ids) - 1)
        found = self.ids[pos] == cell
        lo = self.ptr[pos]
        count = np.where(found, self.ptr[pos + 1] - lo, 0)
        total = int(count.sum())
        if not total:
            return best_seg, best_tau, best_d
        first = np.cumsum(count) - count
        row = np.repeat(np.arange(n), count)
        segs = self.segs[np.arange(total) + np.repeat(lo - first, count)]
        tau, dist2 = index._project(px[row], py[row], segs)
        has = np.flatnonzero(count)
        low = np.full(n, np.inf)
        low[has] = np.minimum.reduceat(dist2, first[has])
        # The first candidate of each row that reaches its row's minimum.
        hit = np.flatnonzero(dist2 == low[row])
        keep = np.ones(len(hit), dtype=bool)
        keep[1:] = row[hit[1:]] != row[hit[:-1]]
        hit = hit[keep]
        best_seg[row[hit]] = segs[hit]
        best_tau[row[hit]] = tau[hit]
        best_d[has] = np.sqrt(low[has])
        return best_seg, best_tau, best_d


def _in_view(
    segs: I64, index: SegmentIndex, cx: float, cy: float, radius_m: float, heading_deg: float, fov_deg: float
) -> npt.NDArray[np.bool_]:
    steps = np.linspace(0.0, 1.0, 9)
    x = index.x0[segs, None] + steps * (index.x1[segs, None] - index.x0[segs, None]) - cx
    y = index.y0[segs, None] + steps * (index.y1[segs, None] - index.y0[segs, None]) - cy
    bearing = np.degrees(np.arctan2(x, y))
    diff = np.abs((bearing - heading_deg + 180.0) % 360.0 - 180.0)
    near = np.hypot(x, y)
    visible = (near <= radius_m) & ((diff <= fov_deg / 2.0) | (near <= 10.0))
    return np.asarray(visible.any(axis=1), dtype=bool)


def cumulative_along_road(graph: RoadGraph) -> F64:
    """Metres from its road's start to each coordinate."""
    seg = haversine_m(graph.coord_lat[:-1], graph.coord_lon[:-1], graph.coord_lat[1:], graph.coord_lon[1:])
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    counts = np.diff(graph.road_ptr)
    return np.asarray(cum - np.repeat(cum[graph.road_ptr[:-1]], counts), dtype=np.float64)
