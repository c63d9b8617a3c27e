"""Address search over the loaded extract (street names and named places) and the road map layer.

Pure: OSM records in, plain values out. Works for any extract: Indonesian street names
("Jalan Jenderal Sudirman", typed as "jl sudirman"), Brazilian ones ("Avenida Ipiranga"), …
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routing.osm import RawWay, read_named_nodes, read_ways

#: Road classes drawn thicker on the map.
MAJOR_ROADS = frozenset({"motorway", "trunk", "primary", "secondary", "tertiary"})
#: Ways not drawn (not for vehicles; they clutter a dispatcher's map).
HIDDEN_ROADS = frozenset({"footway", "path", "steps", "cycleway", "bridleway", "corridor", "proposed", "construction"})
#: Words that say "street" and carry no meaning in a search (normalised forms).
STREET_WORDS = frozenset({"jalan", "jl", "jln", "gang", "gg", "rua", "avenida", "av", "street", "st", "road", "rd"})


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # "street" or the OSM class of a named node (bus_stop, hospital, …)
    lat: float
    lon: float


def normalise(text: str) -> list[str]:
    """Lower case, accents and punctuation dropped, split in words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return plain.split()


def _meaningful(words: list[str]) -> list[str]:
    kept = [w for w in words if w not in STREET_WORDS]
    return kept or words


class PlaceIndex:
    """Search by words: every word typed must begin a word of the name ("sudir" finds Sudirman)."""

    def __init__(self, places: Iterable[Place]) -> None:
        self.places = sorted(places, key=lambda p: (p.name.casefold(), p.kind))
        self._words = [normalise(p.name) for p in self.places]
        # " word word": a typed word begins a word of the name when " " + it occurs here
        self._joined = ["".join(" " + w for w in words) for words in self._words]

    def __len__(self) -> int:
        return len(self.places)

    def search(self, query: str, limit: int = 10) -> list[Place]:
        words_typed = normalise(query)
        typed = _meaningful(words_typed)
        if not typed:
            return []
        wants_street = any(w in STREET_WORDS for w in words_typed)  # "jl sudirman": the street first
        scored: list[tuple[int, int, int, int]] = []
        first, *rest = [" " + t for t in typed]
        candidates = [i for i, joined in enumerate(self._joined) if first in joined]  # one pass in C
        for i in candidates:
            if rest and not all(n in self._joined[i] for n in rest):
                continue
            meaningful = _meaningful(self._words[i])
            exact = meaningful == typed
            starts = bool(meaningful) and meaningful[0].startswith(typed[0])
            other_kind = int(wants_street and self.places[i].kind != "street")
            scored.append((other_kind, 0 if exact else 1 if starts else 2, len(self.places[i].name), i))
        scored.sort()
        return [self.places[i] for *_, i in scored[: max(0, limit)]]

    @classmethod
    def from_extract(cls, path: Path | str) -> PlaceIndex:
        return cls([*streets(read_ways(path)), *read_named_nodes(path)])


def _points(way: RawWay) -> list[tuple[float, float]]:
    return [(lat, lon) for lat, lon in zip(way.lats, way.lons, strict=True) if not (math.isnan(lat) or math.isnan(lon))]


def streets(ways: Iterable[RawWay]) -> Iterator[Place]:
    """One place per street name: the road node nearest the middle of all the street's nodes."""
    by_name: dict[str, list[tuple[float, float]]] = {}
    for way in ways:
        name = way.tags.get("name", "").strip()
        if name and way.tags.get("highway", "") not in HIDDEN_ROADS:
            by_name.setdefault(name, []).extend(_points(way))
    for name, points in by_name.items():
        if not points:
            continue
        lat_c = sum(p[0] for p in points) / len(points)
        lon_c = sum(p[1] for p in points) / len(points)
        lat, lon = min(points, key=lambda p: (p[0] - lat_c) ** 2 + (p[1] - lon_c) ** 2)
        yield Place(name, "street", lat, lon)


def road_geojson(ways: Iterable[RawWay], precision: int = 5) -> dict[str, Any]:
    """The roads as a GeoJSON FeatureCollection of LineStrings (coordinates rounded to `precision`
    decimals, about a metre at 5; repeated points dropped), `major` set on the main roads."""
    features: list[dict[str, Any]] = []
    for way in ways:
        highway = way.tags.get("highway", "")
        if highway in HIDDEN_ROADS:
            continue
        line: list[list[float]] = []
        for lat, lon in zip(way.lats, way.lons, strict=True):
            if math.isnan(lat) or math.isnan(lon):
                continue
            point = [round(lon, precision), round(lat, precision)]
            if not line or line[-1] != point:
                line.append(point)
        if len(line) < 2:
            continue
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {"name": way.tags.get("name"), "major": highway.removesuffix("_link") in MAJOR_ROADS},
            }
        )
    return {"type": "FeatureCollection", "features": features}
