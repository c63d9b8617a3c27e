"""Build a RoadGraph from OSM ways: keep the drivable ones, cut them at intersections,
give each direction of travel a free-flow time."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from routing.errors import BadRoadData
from routing.geo import haversine_m
from routing.graph import RoadGraph
from routing.osm import RawWay
from routing.profiles import DEFAULT_SPEEDS_KMH
from routing.tags import (
    is_motor_accessible,
    motor_access,
    oneway_direction,
    parse_length_m,
    parse_maxspeed,
    parse_weight_t,
)

MIN_EDGE_TIME_S = 1e-3


@dataclass(frozen=True)
class ImportOptions:
    """How an extract becomes a graph.

    `speeds_kmh`: free-flow speed per highway class when `maxspeed` is missing; its keys are
    the classes kept.  `maxspeed_factor` scales tagged limits (1.0: drive at the limit).
    `emergency_override` keeps `access=no` ways tagged `emergency=yes/designated`.
    """

    speeds_kmh: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEEDS_KMH))
    maxspeed_factor: float = 1.0
    emergency_override: bool = False

    def fingerprint(self) -> dict[str, Any]:
        return {
            "speeds_kmh": {k: float(v) for k, v in sorted(self.speeds_kmh.items())},
            "maxspeed_factor": self.maxspeed_factor,
            "emergency_override": self.emergency_override,
        }


@dataclass
class _Way:
    way_id: int
    ids: list[int]
    lats: list[float]
    lons: list[float]
    tags: Mapping[str, str]
    direction: int


class _Interner:
    def __init__(self, *initial: str) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        for value in initial:
            self(value)

    def __call__(self, value: str) -> int:
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values)
            self.values.append(value)
        return found


def _drivable_pieces(ways: Iterable[RawWay], options: ImportOptions) -> list[_Way]:
    """Drivable ways, split where the extract lacks a node's location."""
    kept: list[_Way] = []
    for way in ways:
        tags = way.tags
        if tags.get("highway") not in options.speeds_kmh or tags.get("area") == "yes":
            continue
        if not is_motor_accessible(tags, emergency_override=options.emergency_override):
            continue
        direction = oneway_direction(tags)
        if direction is None:
            continue
        piece = _Way(way.way_id, [], [], [], tags, direction)
        for node_id, lat, lon in zip(way.node_ids, way.lats, way.lons, strict=True):
            if math.isnan(lat) or math.isnan(lon):
                if len(piece.ids) >= 2:
                    kept.append(piece)
                piece = _Way(way.way_id, [], [], [], tags, direction)
                continue
            if piece.ids and piece.ids[-1] == node_id:
                continue
            piece.ids.append(node_id)
            piece.lats.append(lat)
            piece.lons.append(lon)
        if len(piece.ids) >= 2:
            kept.append(piece)
    return kept


def build_graph(ways: Iterable[RawWay], options: ImportOptions | None = None, **meta: Any) -> RoadGraph:
    """The drivable directed graph of `ways` (see :mod:`routing.graph` for its shape)."""
    options = options or ImportOptions()
    pieces = _drivable_pieces(ways, options)
    if not pieces:
        raise BadRoadData("the extract holds no drivable road (no way with a car highway class)")
    uses: Counter[int] = Counter()
    for piece in pieces:
        uses.update(piece.ids)
        uses[piece.ids[0]] += 1  # way ends are always nodes of the graph
        uses[piece.ids[-1]] += 1

    node_index: dict[int, int] = {}
    node_lat: list[float] = []
    node_lon: list[float] = []
    node_osm: list[int] = []
    synthetic = [0]

    def node_of(osm_id: int, lat: float, lon: float) -> int:
        found = node_index.get(osm_id)
        if found is None:
            found = node_index[osm_id] = len(node_lat)
            node_lat.append(lat)
            node_lon.append(lon)
            node_osm.append(osm_id)
        return found

    def new_synthetic(lat: float, lon: float) -> tuple[int, int]:
        synthetic[0] -= 1
        return synthetic[0], node_of(synthetic[0], lat, lon)

    # Roads: (piece, start node, end node, ids, lats, lons)
    roads: list[tuple[_Way, int, int, list[float], list[float]]] = []
    seen_pairs: set[tuple[int, int]] = set()

    def add_road(piece: _Way, ids: list[int], lats: list[float], lons: list[float]) -> None:
        start, end = node_index[ids[0]], node_index[ids[-1]]
        pair = (min(start, end), max(start, end))
        if start != end and pair not in seen_pairs:
            seen_pairs.add(pair)
            roads.append((piece, start, end, lats, lons))
            return
        # A self-loop or a second road between the same two nodes: split it in two so that
        # the graph stays simple (a node pair names at most one edge).
        if len(ids) >= 3:
            mid = len(ids) // 2
            node_of(ids[mid], lats[mid], lons[mid])
            add_road(piece, ids[: mid + 1], lats[: mid + 1], lons[: mid + 1])
            add_road(piece, ids[mid:], lats[mid:], lons[mid:])
            return
        if start == end:
            return  # a loop of two points: nothing to drive
        mid_lat, mid_lon = (lats[0] + lats[1]) / 2.0, (lons[0] + lons[1]) / 2.0
        mid_id, _ = new_synthetic(mid_lat, mid_lon)
        add_road(piece, [ids[0], mid_id], [lats[0], mid_lat], [lons[0], mid_lon])
        add_road(piece, [mid_id, ids[1]], [mid_lat, lats[1]], [mid_lon, lons[1]])

    for piece in pieces:
        start = 0
        node_of(piece.ids[0], piece.lats[0], piece.lons[0])
        for i in range(1, len(piece.ids)):
            if uses[piece.ids[i]] >= 2:
                node_of(piece.ids[i], piece.lats[i], piece.lons[i])
                add_road(piece, piece.ids[start : i + 1], piece.lats[start : i + 1], piece.lons[start : i + 1])
                start = i

    return _assemble(roads, node_lat, node_lon, node_osm, options, meta)


def _assemble(
    roads: list[tuple[_Way, int, int, list[float], list[float]]],
    node_lat: list[float],
    node_lon: list[float],
    node_osm: list[int],
    options: ImportOptions,
    meta: Mapping[str, Any],
) -> RoadGraph:
    highways = _Interner()
    services = _Interner("")
    accesses = _Interner("yes")
    names = _Interner()
    road_count = len(roads)
    ptr = np.zeros(road_count + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r[3]) for r in roads])
    coord_lat = np.fromiter((v for r in roads for v in r[3]), dtype=np.float64, count=int(ptr[-1]))
    coord_lon = np.fromiter((v for r in roads for v in r[4]), dtype=np.float64, count=int(ptr[-1]))
    seg = haversine_m(coord_lat[:-1], coord_lon[:-1], coord_lat[1:], coord_lon[1:])
    cum = np.concatenate(([0.0], np.cumsum(seg)))
    length = cum[ptr[1:] - 1] - cum[ptr[:-1]]

    attrs: dict[str, list[Any]] = {
        k: [] for k in ("way", "name", "highway", "service", "access", "width", "maxwidth", "maxweight", "maxheight")
    }
    tails: list[int] = []
    heads: list[int] = []
    edge_road: list[int] = []
    forward: list[bool] = []
    times: list[float] = []
    for r, (piece, start, end, _lats, _lons) in enumerate(roads):
        tags = piece.tags
        highway = tags["highway"]
        attrs["way"].append(piece.way_id)
        name = tags.get("name") or tags.get("ref") or ""
        attrs["name"].append(names(name) if name else -1)
        attrs["highway"].append(highways(highway))
        attrs["service"].append(services(tags.get("service", "")))
        attrs["access"].append(accesses(motor_access(tags)))
        attrs["width"].append(parse_length_m(tags.get("width") or tags.get("est_width")))
        attrs["maxwidth"].append(parse_length_m(tags.get("maxwidth") or tags.get("maxwidth:physical")))
        attrs["maxweight"].append(parse_weight_t(tags.get("maxweight")))
        attrs["maxheight"].append(parse_length_m(tags.get("maxheight") or tags.get("maxheight:physical")))
        class_speed = float(options.speeds_kmh[highway])
        for is_forward, key in ((True, "maxspeed:forward"), (False, "maxspeed:backward")):
            if piece.direction == (-1 if is_forward else 1):
                continue
            limit = parse_maxspeed(tags.get(key) or tags.get("maxspeed"))
            speed = limit * options.maxspeed_factor if not math.isnan(limit) else class_speed
            tails.append(start if is_forward else end)
            heads.append(end if is_forward else start)
            edge_road.append(r)
            forward.append(is_forward)
            times.append(max(float(length[r]) / (speed / 3.6), MIN_EDGE_TIME_S))

    tail = np.asarray(tails, dtype=np.int32)
    head = np.asarray(heads, dtype=np.int32)
    order = np.lexsort((head, tail))
    if len(highways.values) > 255 or len(services.values) > 255 or len(accesses.values) > 255:
        raise BadRoadData("too many distinct highway/service/access values for the cache format")
    return RoadGraph(
        node_lat=np.asarray(node_lat),
        node_lon=np.asarray(node_lon),
        node_osm_id=np.asarray(node_osm, dtype=np.int64),
        road_ptr=ptr,
        coord_lat=coord_lat,
        coord_lon=coord_lon,
        road_start=np.asarray([r[1] for r in roads], dtype=np.int32),
        road_end=np.asarray([r[2] for r in roads], dtype=np.int32),
        road_length_m=length,
        road_way_id=np.asarray(attrs["way"], dtype=np.int64),
        road_name=np.asarray(attrs["name"], dtype=np.int32),
        road_highway=np.asarray(attrs["highway"], dtype=np.uint8),
        road_service=np.asarray(attrs["service"], dtype=np.uint8),
        road_access=np.asarray(attrs["access"], dtype=np.uint8),
        road_width_m=np.asarray(attrs["width"], dtype=np.float32),
        road_maxwidth_m=np.asarray(attrs["maxwidth"], dtype=np.float32),
        road_maxweight_t=np.asarray(attrs["maxweight"], dtype=np.float32),
        road_maxheight_m=np.asarray(attrs["maxheight"], dtype=np.float32),
        edge_tail=tail[order],
        edge_head=head[order],
        edge_road=np.asarray(edge_road, dtype=np.int32)[order],
        edge_forward=np.asarray(forward, dtype=bool)[order],
        edge_time_s=np.asarray(times, dtype=np.float64)[order],
        highway_names=tuple(highways.values),
        service_names=tuple(services.values),
        access_names=tuple(accesses.values),
        names=tuple(names.values),
        meta={**meta, "options": options.fingerprint()},
    )
