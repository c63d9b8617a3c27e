"""Snapping positions to the nearest point of a road (not just the nearest node).

A KD-tree over points sampled every few metres along every road segment finds the
candidate segments of many positions in one vectorised query; an exact projection onto
those segments picks the nearest point.  A position whose K nearest samples could hide a
nearer segment is re-checked with a radius query, so the answer is exact.
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

    def snap(self, lats: F64, lons: F64) -> Snaps:
        """Nearest road point of each (lat, lon); inputs must be finite (checked by callers)."""
        px, py = self.graph.projection.to_xy(np.asarray(lats, dtype=np.float64), np.asarray(lons, dtype=np.float64))
        n = len(px)
        if self.tree is None or n == 0:
            nan = np.full(n, np.nan)
            return Snaps(np.full(n, -1, dtype=np.int64), nan, np.full(n, np.inf), nan, nan)
        pts = np.column_stack((px, py))
        rows = np.arange(n)
        best_seg = np.zeros(n, dtype=np.int64)
        best_tau, best_d = np.zeros(n), np.full(n, np.inf)
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
        sx = self.x0[best_seg] + best_tau * (self.x1[best_seg] - self.x0[best_seg])
        sy = self.y0[best_seg] + best_tau * (self.y1[best_seg] - self.y0[best_seg])
        lat, lon = self.graph.projection.to_latlon(sx, sy)
        fraction = np.clip(self.frac0[best_seg] + best_tau * self.frac_span[best_seg], 0.0, 1.0)
        return Snaps(self.seg_road[best_seg], fraction, best_d, lat, lon)

    def _nearest_of(self, px: F64, py: F64, segs: I64) -> tuple[I64, F64, F64]:
        x0, y0 = self.x0[segs], self.y0[segs]
        dx, dy = self.x1[segs] - x0, self.y1[segs] - y0
        norm = dx * dx + dy * dy
        safe = np.where(norm > 0, norm, 1.0)
        tau = np.clip(((px - x0) * dx + (py - y0) * dy) / safe, 0.0, 1.0)
        tau = np.where(norm > 0, tau, 0.0)
        dist = np.hypot(x0 + tau * dx - px, y0 + tau * dy - py)
        col = np.argmin(dist, axis=1)
        rows = np.arange(len(col))
        return segs[rows, col].astype(np.int64), tau[rows, col], dist[rows, col]

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
