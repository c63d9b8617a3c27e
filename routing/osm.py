"""Readers of OpenStreetMap extracts: PBF/XML through pyosmium, and Overpass API JSON.

Both yield the same plain :class:`RawWay` records (every way with a `highway` tag, with
its nodes' coordinates), so the graph builder does not care where the data came from; and
:class:`RawFeature` records (named or numbered nodes and buildings) for the address search;
:func:`read_records` gives both from one read of the file.
"""

from __future__ import annotations

import bz2
import gzip
import itertools
import json
import lzma
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from routing.errors import BadRoadData

#: File name endings read with pyosmium (anything else is tried as Overpass JSON).
OSMIUM_SUFFIXES = (".pbf", ".osm", ".osm.bz2", ".osm.gz", ".o5m", ".opl")

#: Compressed Overpass JSON (`….overpass.json.gz`, the extract the repository carries) is read
#: through the standard library's decompressor its last suffix names.
_DECOMPRESSORS: dict[str, Callable[..., IO[str]]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


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
            if isinstance(obj, osmium.osm.Way):
                yield _raw_way(obj, {tag.k: tag.v for tag in obj.tags})
    except RuntimeError as exc:
        raise BadRoadData(f"cannot read OSM file {path}: {exc}") from exc


def _raw_way(way: Any, tags: dict[str, str]) -> RawWay:
    """A pyosmium way (node locations resolved) as a RawWay."""
    ids: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    for node in way.nodes:
        ids.append(node.ref)
        location = node.location
        if location.valid():
            lats.append(location.lat)
            lons.append(location.lon)
        else:
            lats.append(math.nan)
            lons.append(math.nan)
    return RawWay(way.id, tuple(ids), tuple(lats), tuple(lons), tags)


def _way_feature(way: Any, tags: dict[str, str]) -> RawFeature | None:
    """A pyosmium way that is a feature (a building, an area) at the mean of its nodes."""
    points = [(n.location.lat, n.location.lon) for n in way.nodes if n.location.valid()]
    centre = _mean(points, closed=len(way.nodes) > 2 and way.nodes[0].ref == way.nodes[-1].ref)
    return RawFeature("way", way.id, centre[0], centre[1], tags) if centre else None


def read_overpass_json(path: Path | str) -> Iterator[RawWay]:
    """Highway ways of an Overpass API JSON answer (`out body;` with nodes, or `out geom;`)."""
    return ways_from_overpass(load_overpass_json(path))


def load_overpass_json(path: Path | str) -> Mapping[str, Any]:
    """The parsed Overpass JSON document of a file, plain or compressed (.gz, .bz2, .xz)."""
    path = Path(path)
    opener = _DECOMPRESSORS.get(path.suffix.lower(), open)
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            document = json.load(handle)
    except (UnicodeDecodeError, json.JSONDecodeError, EOFError, OSError, lzma.LZMAError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the file system's own error (missing, unreadable), not bad data
        # a corrupt or truncated compressed file: gzip/bz2 raise OSError without errno, or EOFError
        raise BadRoadData(f"{path} is neither an OSM file pyosmium reads nor Overpass JSON: {exc}") from exc
    if not isinstance(document, Mapping):
        raise BadRoadData(f"{path} is not an Overpass JSON document (an object with 'elements')")
    return document


def _overpass_elements(document: Mapping[str, Any]) -> tuple[list[Any], dict[int, tuple[float, float]]]:
    """An Overpass document's elements, and the positions of its nodes by id."""
    elements = document.get("elements")
    if not isinstance(elements, list):
        raise BadRoadData("Overpass JSON has no 'elements' list")
    nodes: dict[int, tuple[float, float]] = {}
    for element in elements:
        if element.get("type") == "node" and "lat" in element and "lon" in element:
            nodes[int(element["id"])] = (float(element["lat"]), float(element["lon"]))
    return elements, nodes


def ways_from_overpass(document: Mapping[str, Any]) -> Iterator[RawWay]:
    """Highway ways of an already parsed Overpass JSON document (used by tests too)."""
    elements, nodes = _overpass_elements(document)
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


@dataclass(frozen=True)
class RawFeature:
    """A named or numbered thing of an extract that is not a road: a node, or a way (a building, an
    area) at the mean of its nodes. Tags as in OSM."""

    osm_type: str  # "node", "way" (or "relation" when an Overpass answer gives its `center`)
    osm_id: int
    lat: float
    lon: float
    tags: Mapping[str, str]


#: Keys that make a feature worth reading: its name, or its house number.
FEATURE_KEYS = ("name", "addr:housenumber")


def _wanted(tags: Mapping[str, Any], osm_type: str) -> bool:
    # a named road is a street (read_ways): only its nodes (bus stops, named junctions) are features here
    return any(tags.get(k) for k in FEATURE_KEYS) and not (osm_type == "way" and "highway" in tags)


def read_features(path: Path | str) -> Iterator[RawFeature]:
    """Named and numbered points and ways of an extract (schools, mosques, bus stops, buildings with
    an address, …); an extract of highway ways only has few or none. Multipolygon relations are
    read only from an Overpass answer that gives their `center`."""
    path = Path(path)
    if path.name.lower().endswith(OSMIUM_SUFFIXES):
        return _features_osmium(path)
    return features_from_overpass(load_overpass_json(path))


def read_records(path: Path | str) -> Iterator[RawWay | RawFeature]:
    """Every highway way (:func:`read_ways`) and every named or numbered feature
    (:func:`read_features`) of an extract, in one read of the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"road extract not found: {path}")
    if path.name.lower().endswith(OSMIUM_SUFFIXES):
        return _records_osmium(path)
    document = load_overpass_json(path)
    return itertools.chain(ways_from_overpass(document), features_from_overpass(document))


def _records_osmium(path: Path, *, ways: bool = True) -> Iterator[RawWay | RawFeature]:
    """The highway ways and the named features of a PBF or XML extract; `ways=False`: the
    features only (osmium then passes no unnamed highway way up at all)."""
    import osmium

    keys = ("highway", *FEATURE_KEYS) if ways else FEATURE_KEYS
    processor = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations()
        .with_filter(osmium.filter.KeyFilter(*keys))
    )
    try:
        for obj in processor:
            tags = {tag.k: tag.v for tag in obj.tags}
            if isinstance(obj, osmium.osm.Node):
                if obj.location.valid() and _wanted(tags, "node"):
                    yield RawFeature("node", obj.id, obj.location.lat, obj.location.lon, tags)
            elif isinstance(obj, osmium.osm.Way):
                if ways and "highway" in tags:
                    yield _raw_way(obj, tags)
                elif _wanted(tags, "way"):
                    feature = _way_feature(obj, tags)
                    if feature:
                        yield feature
    except RuntimeError as exc:
        raise BadRoadData(f"cannot read OSM file {path}: {exc}") from exc


def _features_osmium(path: Path) -> Iterator[RawFeature]:
    return (record for record in _records_osmium(path, ways=False) if isinstance(record, RawFeature))


def features_from_overpass(document: Mapping[str, Any]) -> Iterator[RawFeature]:
    """Named and numbered features of an already parsed Overpass JSON document (used by tests too)."""
    elements, nodes = _overpass_elements(document)
    for element in elements:
        kind = element.get("type")
        tags = {str(k): str(v) for k, v in (element.get("tags") or {}).items()}
        if kind not in ("node", "way", "relation") or not _wanted(tags, str(kind)):
            continue
        try:
            centre = _centre(element, nodes)
        except (KeyError, TypeError, ValueError):
            continue  # a malformed element: the search does without it
        if centre and all(math.isfinite(c) for c in centre):
            yield RawFeature(str(kind), int(element["id"]), centre[0], centre[1], tags)


def _centre(element: Mapping[str, Any], nodes: Mapping[int, tuple[float, float]]) -> tuple[float, float] | None:
    if element.get("type") == "node" and "lat" in element and "lon" in element:
        return float(element["lat"]), float(element["lon"])
    if isinstance(element.get("center"), Mapping):
        return float(element["center"]["lat"]), float(element["center"]["lon"])
    if element.get("type") != "way":
        return None
    refs = [int(n) for n in element.get("nodes", ())]
    geometry = element.get("geometry")
    if geometry and len(geometry) == len(refs):
        points = [(float(g["lat"]), float(g["lon"])) for g in geometry if g]
    else:
        points = [nodes[n] for n in refs if n in nodes]
    return _mean(points, closed=len(refs) > 2 and refs[0] == refs[-1])


def _mean(points: list[tuple[float, float]], closed: bool) -> tuple[float, float] | None:
    """The mean of a way's points (a closed way's first point once): a building's middle."""
    if closed and len(points) > 1 and points[0] == points[-1]:
        points = points[:-1]
    if not points:
        return None
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
