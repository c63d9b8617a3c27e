"""The road layer a map needs at one zoom level: light enough for a crew phone on a mobile connection.

Pure: OSM records in, a GeoJSON FeatureCollection out. At zoom `z` a screen pixel covers
360 / (256 · 2^z) degrees of longitude (Web Mercator, as Leaflet draws), so:

* lines are simplified (Douglas-Peucker, shapely) to half a pixel of that zoom, after the ways of
  one road class are merged end to end (fewer, longer lines simplify better and repeat no points);
* coordinates are rounded to the decimals half a pixel needs (5 ≈ 1 m at zoom ≥ 14, else 4 ≈ 11 m);
* minor roads are left out at low zoom (a residential street from zoom 13, a service road from 15);
* one MultiLineString feature per road class carries the class and `major` (drawn thicker), and
  no street names: they were a third of the bytes. The names come as a layer of their own
  (`street_labels`: a point per label, with the road's bearing), which only the consoles ask for.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import shapely

from routing.osm import RawWay
from routing.places import HIDDEN_ROADS, MAJOR_ROADS

#: The coarsest and finest levels built; a zoom outside is served the nearest (above 17 a half
#: pixel is under 0.6 m: nothing more to show than at 17).
MIN_ZOOM = 10
MAX_ZOOM = 17
#: The zoom from which a road class is drawn (its `_link` roads with it); a class not named here
#: (service, track, pedestrian, …) from `OTHER_ROADS_ZOOM`. Like OSM's own map style.
ROAD_CLASS_ZOOM: Mapping[str, int] = {
    "motorway": 0,
    "trunk": 0,
    "primary": 0,
    "secondary": 11,
    "tertiary": 12,
    "unclassified": 13,
    "residential": 13,
    "living_street": 13,
    "road": 13,
}
OTHER_ROADS_ZOOM = 15


def level_of(zoom: int) -> int:
    """The level built for a map at `zoom`."""
    return min(MAX_ZOOM, max(MIN_ZOOM, zoom))


def pixel_deg(zoom: int) -> float:
    """Degrees of longitude in one screen pixel at `zoom` (256-pixel Web Mercator tiles)."""
    return math.ldexp(360.0 / 256, -zoom)


def decimals_for(zoom: int) -> int:
    """Decimals of a degree enough for half a pixel: 4 (≈ 11 m) up to zoom 13, then 5 (≈ 1 m)."""
    return 5 if zoom >= 14 else 4


def road_class(way: RawWay) -> str | None:
    """The class a way is drawn as (`primary_link` → `primary`), or None when it is not drawn."""
    highway = way.tags.get("highway", "")
    if not highway or highway in HIDDEN_ROADS:
        return None
    return highway.removesuffix("_link")


@dataclass(frozen=True)
class RoadLines:
    """The drawn roads of an extract, merged end to end per class: what every level is cut from,
    small enough to keep (Porto Alegre: 53,000 points in about 2 MB; its ways take 57 MB)."""

    by_class: Mapping[str, shapely.Geometry]  # a LineString or MultiLineString per road class
    mid_lat: float  # the extract's middle latitude, where a degree of longitude is measured

    @classmethod
    def from_ways(cls, ways: Iterable[RawWay]) -> RoadLines:
        builder = RoadLinesBuilder()
        for way in ways:
            builder.add(way)
        return builder.build()


class RoadLinesBuilder:
    """:class:`RoadLines` gathered while the ways stream by (the ways are not kept)."""

    def __init__(self) -> None:
        self._lines_by_class: dict[str, list[shapely.LineString]] = {}
        self._lat_sum, self._lat_count = 0.0, 0

    def add(self, way: RawWay) -> None:
        road = road_class(way)
        if road is None:
            return
        points = [
            (lon, lat) for lat, lon in zip(way.lats, way.lons, strict=True) if not (math.isnan(lat) or math.isnan(lon))
        ]
        if len(points) < 2:
            return
        self._lines_by_class.setdefault(road, []).append(shapely.LineString(points))
        self._lat_sum += points[0][1]
        self._lat_count += 1

    def build(self) -> RoadLines:
        merged = {
            road: shapely.line_merge(shapely.MultiLineString(lines)) for road, lines in self._lines_by_class.items()
        }
        return RoadLines(merged, self._lat_sum / self._lat_count if self._lat_count else 0.0)


def light_road_layer(roads: RoadLines | Iterable[RawWay], zoom: int) -> dict[str, Any]:
    """The roads worth drawing at `zoom`, simplified and rounded for it (see the module's text)."""
    lines = roads if isinstance(roads, RoadLines) else RoadLines.from_ways(roads)
    zoom = level_of(zoom)
    # half a pixel, in degrees of latitude at the extract's middle (the smaller of the two)
    tolerance = 0.5 * pixel_deg(zoom) * math.cos(math.radians(lines.mid_lat))
    decimals = decimals_for(zoom)
    drawn = [road for road in lines.by_class if ROAD_CLASS_ZOOM.get(road, OTHER_ROADS_ZOOM) <= zoom]
    features: list[dict[str, Any]] = []
    for road in sorted(drawn, key=lambda r: (ROAD_CLASS_ZOOM.get(r, OTHER_ROADS_ZOOM), r)):
        feature = line_feature(
            lines.by_class[road], tolerance, decimals, {"highway": road, "major": road in MAJOR_ROADS}
        )
        if feature is not None:
            features.append(feature)
    return {"type": "FeatureCollection", "features": features}


def line_feature(
    lines: shapely.Geometry, tolerance: float, decimals: int, properties: dict[str, Any]
) -> dict[str, Any] | None:
    """`lines` simplified to `tolerance` (degrees) and rounded to `decimals` as one GeoJSON
    MultiLineString feature; None when no line of two points is left to draw."""
    simplified = shapely.simplify(lines, tolerance, preserve_topology=False)
    parts = [_rounded(part.coords, decimals) for part in shapely.get_parts(simplified)]
    parts = [part for part in parts if len(part) >= 2]
    if not parts:
        return None
    return {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": parts}, "properties": properties}


def _rounded(coords: Iterable[tuple[float, ...]], decimals: int) -> list[list[float]]:
    """[lon, lat] pairs rounded to `decimals`, a point equal to the one before dropped."""
    line: list[list[float]] = []
    for x, y, *_ in coords:
        point = [round(x, decimals), round(y, decimals)]
        if not line or line[-1] != point:
            line.append(point)
    return line


#: A way shorter than this carries no label (its name would cover it); labels of one name closer
#: than `LABEL_SPACING_M` are one label.
LABEL_MIN_M = 120.0
LABEL_SPACING_M = 400.0


def street_labels(ways: Iterable[RawWay], precision: int = 5) -> dict[str, Any]:
    """Where the map writes street names: points along the named roads (the middle of each way long
    enough to carry its name, one per `LABEL_SPACING_M` of the same name), each with the road's
    bearing there, so the name is drawn along it. GeoJSON points: `name`, `major`, `angle`
    (degrees clockwise from east, -90…90 so text never reads upside down)."""
    labels = StreetLabels(precision)
    for way in ways:
        labels.add(way)
    return labels.layer()


class StreetLabels:
    """:func:`street_labels` gathered while the ways stream by."""

    def __init__(self, precision: int = 5) -> None:
        self.precision = precision
        self._placed: dict[str, list[tuple[float, float]]] = {}
        self._features: list[dict[str, Any]] = []

    def layer(self) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": list(self._features)}

    def add(self, way: RawWay) -> None:
        cos = math.cos
        name, road = way.tags.get("name", "").strip(), way.tags.get("highway", "")
        if not name or road in HIDDEN_ROADS:
            return
        points = [(la, lo) for la, lo in zip(way.lats, way.lons, strict=True) if la == la and lo == lo]  # no NaN
        if len(points) < 2:
            return
        scale = cos(math.radians(points[0][0]))
        steps = [111_195.0 * math.hypot(b[0] - a[0], (b[1] - a[1]) * scale) for a, b in itertools.pairwise(points)]
        length = sum(steps)
        if length < LABEL_MIN_M:
            return
        half, run = length / 2, 0.0
        for (a, b), step in zip(itertools.pairwise(points), steps, strict=True):
            if run + step >= half and step > 0:
                t = (half - run) / step
                lat, lon = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
                angle = math.degrees(math.atan2(-(b[0] - a[0]), (b[1] - a[1]) * scale))  # screen y grows down
                angle = angle - 180 if angle > 90 else angle + 180 if angle < -90 else angle
                break
            run += step
        else:  # pragma: no cover - a positive length always reaches its middle
            return
        near = self._placed.setdefault(name, [])
        if any(111_195.0 * math.hypot(lat - p[0], (lon - p[1]) * scale) < LABEL_SPACING_M for p in near):
            return
        near.append((lat, lon))
        precision = self.precision
        self._features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon, precision), round(lat, precision)]},
                "properties": {"name": name, "major": road.removesuffix("_link") in MAJOR_ROADS, "angle": round(angle)},
            }
        )
