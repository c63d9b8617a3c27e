"""Readers of OpenStreetMap extracts: PBF/XML through pyosmium, and Overpass API JSON.

Both yield the same plain :class:`RawWay` records (every way with a `highway` tag, with
its nodes' coordinates), so the graph builder does not care where the data came from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routing.errors import BadRoadData

#: File name endings read with pyosmium (anything else is tried as Overpass JSON).
OSMIUM_SUFFIXES = (".pbf", ".osm", ".osm.bz2", ".osm.gz", ".o5m", ".opl")


@dataclass(frozen=True)
class RawWay:
    """One OSM way with a `highway` tag: node ids and their coordinates, in way order.

    A node whose location the extract lacks has NaN coordinates.
    """

    way_id: int
    node_ids: tuple[int, ...]
    lats: tuple[float, ...]
    lons: tuple[float, ...]
    tags: Mapping[str, str]


def read_ways(path: Path | str) -> Iterator[RawWay]:
    """Every highway way of an extract, chosen by the file's name ending."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"road extract not found: {path}")
    name = path.name.lower()
    if name.endswith(OSMIUM_SUFFIXES):
        return read_osmium(path)
    return read_overpass_json(path)


def read_osmium(path: Path | str) -> Iterator[RawWay]:
    """Highway ways of a PBF (or OSM XML) file, node locations resolved by pyosmium."""
    import osmium

    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    try:
        for obj in processor:
            if not isinstance(obj, osmium.osm.Way):
                continue
            ids: list[int] = []
            lats: list[float] = []
            lons: list[float] = []
            for node in obj.nodes:
                ids.append(node.ref)
                location = node.location
                if location.valid():
                    lats.append(location.lat)
                    lons.append(location.lon)
                else:
                    lats.append(math.nan)
                    lons.append(math.nan)
            tags = {tag.k: tag.v for tag in obj.tags}
            yield RawWay(obj.id, tuple(ids), tuple(lats), tuple(lons), tags)
    except RuntimeError as exc:
        raise BadRoadData(f"cannot read OSM file {path}: {exc}") from exc


def read_overpass_json(path: Path | str) -> Iterator[RawWay]:
    """Highway ways of an Overpass API JSON answer (`out body;` with nodes, or `out geom;`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRoadData(f"{path} is neither an OSM file pyosmium reads nor Overpass JSON: {exc}") from exc
    return ways_from_overpass(document)


def ways_from_overpass(document: Mapping[str, Any]) -> Iterator[RawWay]:
    """Highway ways of an already parsed Overpass JSON document (used by tests too)."""
    elements = document.get("elements")
    if not isinstance(elements, list):
        raise BadRoadData("Overpass JSON has no 'elements' list")
    nodes: dict[int, tuple[float, float]] = {}
    for element in elements:
        if element.get("type") == "node" and "lat" in element and "lon" in element:
            nodes[int(element["id"])] = (float(element["lat"]), float(element["lon"]))
    for element in elements:
        if element.get("type") != "way":
            continue
        tags = element.get("tags") or {}
        if "highway" not in tags:
            continue
        ids = tuple(int(n) for n in element.get("nodes", ()))
        geometry = element.get("geometry")
        if geometry and len(geometry) == len(ids):
            coords = [(float(g["lat"]), float(g["lon"])) if g else (math.nan, math.nan) for g in geometry]
        else:
            coords = [nodes.get(n, (math.nan, math.nan)) for n in ids]
        yield RawWay(
            int(element["id"]),
            ids,
            tuple(c[0] for c in coords),
            tuple(c[1] for c in coords),
            {str(k): str(v) for k, v in tags.items()},
        )


def read_named_nodes(path: Path | str) -> Iterator[Any]:
    """Named points of an extract (bus stops, hospitals, schools, …) as `routing.places.Place`s;
    an extract of highway ways only has few or none."""
    from routing.places import Place

    path = Path(path)
    if path.name.lower().endswith(OSMIUM_SUFFIXES):
        import osmium

        processor = osmium.FileProcessor(str(path), osmium.osm.NODE).with_filter(osmium.filter.KeyFilter("name"))
        try:
            for node in processor:
                if isinstance(node, osmium.osm.Node) and node.location.valid():
                    tags = {tag.k: tag.v for tag in node.tags}
                    yield Place(tags["name"], _place_kind(tags), node.location.lat, node.location.lon)
        except RuntimeError as exc:
            raise BadRoadData(f"cannot read OSM file {path}: {exc}") from exc
        return
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRoadData(f"{path} is neither an OSM file pyosmium reads nor Overpass JSON: {exc}") from exc
    for element in document.get("elements") or []:
        tags = element.get("tags") or {}
        if element.get("type") == "node" and tags.get("name") and "lat" in element and "lon" in element:
            yield Place(str(tags["name"]), _place_kind(tags), float(element["lat"]), float(element["lon"]))


def _place_kind(tags: Mapping[str, str]) -> str:
    for key in ("amenity", "place", "shop", "tourism", "building", "highway", "public_transport", "leisure"):
        if key in tags:
            return str(tags[key])
    return "place"
