"""Route geometry: pieces of road shapes between two fractions, and GeoJSON output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from routing.graph import RoadGraph
from routing.snap import cumulative_along_road

COORDINATE_DECIMALS = 7


def _along(graph: RoadGraph) -> npt.NDArray[np.float64]:
    along: npt.NDArray[np.float64] = graph.lazy("along", lambda: cumulative_along_road(graph))
    return along


def road_slice(graph: RoadGraph, road: int, start: float, end: float) -> list[tuple[float, float]]:
    """(lat, lon) points of `road` from fraction `start` to fraction `end` (either order),
    following its shape: the two cut points and every shape point between them."""
    lo, hi = int(graph.road_ptr[road]), int(graph.road_ptr[road + 1])
    along = _along(graph)[lo:hi]
    lats, lons = graph.coord_lat[lo:hi], graph.coord_lon[lo:hi]
    length = float(graph.road_length_m[road])
    a, b = sorted((start * length, end * length))
    inner = np.flatnonzero((along > a) & (along < b))
    points = [(float(np.interp(a, along, lats)), float(np.interp(a, along, lons)))]
    points.extend(zip(lats[inner].tolist(), lons[inner].tolist(), strict=True))
    points.append((float(np.interp(b, along, lats)), float(np.interp(b, along, lons))))
    if start > end:
        points.reverse()
    return points


def line_string(points: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """A GeoJSON LineString ([lon, lat] pairs) without repeated points; a single point is
    doubled so the line stays valid."""
    coords: list[list[float]] = []
    for lat, lon in points:
        pair = [round(lon, COORDINATE_DECIMALS), round(lat, COORDINATE_DECIMALS)]
        if not coords or coords[-1] != pair:
            coords.append(pair)
    if len(coords) == 1:
        coords.append(list(coords[0]))
    return {"type": "LineString", "coordinates": coords}


def edge_shapes(graph: RoadGraph, edges: npt.NDArray[np.int64]) -> list[tuple[float, float]]:
    """(lat, lon) points of whole edges one after another, each along its direction of
    travel: every shape point of its road (what `road_slice` from 0 to 1 gives)."""
    g = graph
    roads = g.edge_road[edges]
    lo, hi = g.road_ptr[roads], g.road_ptr[roads + 1]
    count = hi - lo
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    forward = np.repeat(g.edge_forward[edges], count)
    index = np.where(forward, np.repeat(lo, count) + offset, np.repeat(hi - 1, count) - offset)
    return list(zip(g.coord_lat[index].tolist(), g.coord_lon[index].tolist(), strict=True))
