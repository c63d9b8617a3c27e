"""Address search over the loaded extract and the road map layer: street names, named places
(schools, markets, mosques, puskesmas, … found by their name or by what they are: "masjid raya"),
house numbers ("Jalan Sudirman 12") and junctions ("Sudirman / Ahmad Yani": where the streets share
a node).

Pure: OSM records in, plain values out. Works for any extract: Indonesian street names
("Jalan Jenderal Sudirman", typed as "jl sudirman"), Brazilian ones ("Avenida Ipiranga"), …
"""

from __future__ import annotations

import math
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from routing.osm import RawFeature, RawWay, read_records

#: Road classes drawn thicker on the map.
MAJOR_ROADS = frozenset({"motorway", "trunk", "primary", "secondary", "tertiary"})
#: Ways not drawn (not for vehicles; they clutter a dispatcher's map).
HIDDEN_ROADS = frozenset({"footway", "path", "steps", "cycleway", "bridleway", "corridor", "proposed", "construction"})
#: Words that say "street" and carry no meaning in a search (normalised forms).
STREET_WORDS = frozenset({"jalan", "jl", "jln", "gang", "gg", "rua", "avenida", "av", "street", "st", "road", "rd"})
#: Words before a house number ("Jl. Sudirman No. 12").
NUMBER_WORDS = frozenset({"no", "nomor", "nomer", "nr", "n", "num", "numero", "number"})
#: A query that begins with one of these may name a junction without a separator ("simpang sudirman yani").
JUNCTION_WORDS = frozenset({"simpang", "persimpangan", "perempatan", "pertigaan", "junction", "esquina"})
#: What separates the two streets of a junction: "Sudirman / Ahmad Yani", "A & B", "A x B", "A + B".
JUNCTION_SEPARATOR = re.compile(r"\s*(?:/|&|\+|\\|\s[xX]\s)\s*")
HOUSE_NUMBER = re.compile(r"\d+[a-z]{0,2}")
#: Junction nodes of the same two streets closer than this are one junction (a divided road).
SAME_JUNCTION_M = 100.0

#: category → (Indonesian label, English label, search words beyond the labels' own). The labels say
#: what a result is; a search word finds the category ("masjid raya" finds the mosque named "Raya").
CATEGORIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "street": ("jalan", "street", ()),
    "address": ("alamat", "address", ()),
    "junction": ("simpang", "junction", ("persimpangan", "perempatan", "pertigaan", "bundaran")),
    "school": ("sekolah", "school", ("sd", "smp", "sma", "smk", "sdn", "smpn", "sman", "smkn", "madrasah")),
    "kindergarten": ("TK", "kindergarten", ("paud", "sekolah")),
    "university": ("kampus", "university", ("universitas", "institut", "politeknik", "college")),
    "market": ("pasar", "market", ("marketplace",)),
    "mosque": ("masjid", "mosque", ("mesjid", "musala", "musholla", "mushola", "surau", "langgar")),
    "church": ("gereja", "church", ()),
    "hindu_temple": ("pura", "temple", ()),
    "buddhist_temple": ("vihara", "temple", ("klenteng",)),
    "place_of_worship": ("tempat ibadah", "place of worship", ()),
    "hospital": ("rumah sakit", "hospital", ("rs", "rsud", "rsia")),
    "clinic": ("puskesmas/klinik", "clinic", ("pustu", "clinic")),
    "doctor": ("dokter", "doctor", ("praktek",)),
    "pharmacy": ("apotek", "pharmacy", ("apotik", "farmasi")),
    "health": ("fasilitas kesehatan", "health facility", ()),
    "police": ("polisi", "police", ("polsek", "polres", "polresta", "polda", "pos")),
    "fire_station": ("pemadam kebakaran", "fire station", ("damkar",)),
    "government": ("kantor pemerintah", "government office", ("kantor", "kelurahan", "kecamatan", "dinas")),
    "post_office": ("kantor pos", "post office", ()),
    "bank": ("bank", "bank", ("atm",)),
    "fuel": ("SPBU", "fuel station", ("pom", "bensin", "pertamina")),
    "station": ("stasiun/terminal", "station", ("terminal", "stasiun")),
    "bus_stop": ("halte", "bus stop", ("bus",)),
    "airport": ("bandara", "airport", ("bandar", "udara")),
    "mall": ("mal", "mall", ("plaza",)),
    "supermarket": ("swalayan", "supermarket", ("minimarket", "toko")),
    "shop": ("toko", "shop", ()),
    "hotel": ("hotel", "hotel", ("penginapan", "losmen", "wisma")),
    "tourism": ("wisata", "tourist place", ()),
    "park": ("taman", "park", ()),
    "stadium": ("stadion", "stadium", ("gor",)),
    "leisure": ("rekreasi", "leisure", ("olahraga",)),
    "office": ("kantor", "office", ()),
    "area": ("wilayah", "area", ("kampung", "desa", "kelurahan", "perumahan")),
    "named_junction": ("simpang", "junction", ("persimpangan", "bundaran")),
    "entrance": ("pintu masuk", "entrance", ("pintu", "gerbang")),
    "building": ("gedung", "building", ()),
    "facility": ("fasilitas", "facility", ()),
    "other": ("tempat", "place", ()),
}
WORSHIP = {"muslim": "mosque", "christian": "church", "hindu": "hindu_temple", "buddhist": "buddhist_temple"}
AMENITY = {
    "school": "school",
    "kindergarten": "kindergarten",
    "university": "university",
    "college": "university",
    "marketplace": "market",
    "hospital": "hospital",
    "clinic": "clinic",
    "doctors": "doctor",
    "dentist": "doctor",
    "pharmacy": "pharmacy",
    "police": "police",
    "fire_station": "fire_station",
    "townhall": "government",
    "post_office": "post_office",
    "bank": "bank",
    "fuel": "fuel",
    "bus_station": "station",
}
HEALTHCARE = {
    "hospital": "hospital",
    "clinic": "clinic",
    "centre": "clinic",
    "doctor": "doctor",
    "pharmacy": "pharmacy",
}
BUILDING = {
    "mosque": "mosque",
    "church": "church",
    "school": "school",
    "hospital": "hospital",
    "temple": "place_of_worship",
}
SHOP = {"mall": "mall", "supermarket": "supermarket", "convenience": "supermarket"}
LEISURE = {"park": "park", "stadium": "stadium", "sports_centre": "stadium"}
ROAD_POINTS = frozenset({"traffic_signals", "motorway_junction", "mini_roundabout", "turning_circle"})


@dataclass(frozen=True)
class Place:
    """A search result. `kind`: street, place, address or junction; `category` says what it is
    (school, mosque, … for a place; the kind itself otherwise), in both languages through `label`."""

    name: str
    kind: str
    lat: float
    lon: float
    category: str = ""
    housenumber: str = ""  # the number asked for (address), or asked for but not known (street)
    number_known: bool | None = None  # False: the street only, the extract lacks that number
    streets: tuple[str, ...] = ()  # a junction's two streets; an address's street

    @property
    def label(self) -> dict[str, str]:
        """What the result is, as shown beside it: {"id": …, "en": …}."""
        ind, eng, _ = CATEGORIES.get(self.category or self.kind, CATEGORIES["other"])
        if self.number_known is False:
            return {
                "id": f"{ind}, nomor {self.housenumber} tidak diketahui",
                "en": f"{eng}, number {self.housenumber} not known",
            }
        return {"id": ind, "en": eng}


def normalise(text: str) -> list[str]:
    """Lower case, accents and punctuation dropped, split in words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return plain.split()


def _meaningful(words: list[str]) -> list[str]:
    kept = [w for w in words if w not in STREET_WORDS]
    return kept or words


def place_category(tags: Mapping[str, str]) -> str | None:
    """What a named OSM feature is worth finding as (a key of CATEGORIES), None if nothing useful."""
    amenity, healthcare, building = tags.get("amenity", ""), tags.get("healthcare", ""), tags.get("building", "")
    if amenity == "place_of_worship" or building in ("mosque", "church", "temple"):
        return WORSHIP.get(tags.get("religion", ""), BUILDING.get(building, "place_of_worship"))
    if amenity in AMENITY:
        return AMENITY[amenity]
    if healthcare:
        return HEALTHCARE.get(healthcare, "health")
    if tags.get("office") == "government":
        return "government"
    if (
        tags.get("public_transport") == "station"
        or tags.get("railway") in ("station", "halt")
        or tags.get("amenity") == "ferry_terminal"
    ):
        return "station"
    if tags.get("highway") == "bus_stop" or tags.get("public_transport") == "platform":
        return "bus_stop"
    if "public_transport" in tags:
        return "bus_stop" if tags.get("bus") == "yes" else "station"
    if "aeroway" in tags:
        return "airport"
    if "shop" in tags:
        return SHOP.get(tags["shop"], "shop")
    if tags.get("tourism") in ("hotel", "guest_house", "motel", "hostel"):
        return "hotel"
    if "tourism" in tags or "historic" in tags:
        return "tourism"
    if "leisure" in tags:
        return LEISURE.get(tags["leisure"], "leisure")
    if "office" in tags:
        return "office"
    if "place" in tags or "natural" in tags:
        return "area"
    if "entrance" in tags:
        return "entrance"
    if tags.get("highway") in ROAD_POINTS or tags.get("junction") == "yes":
        return "named_junction"
    if BUILDING.get(building):
        return BUILDING[building]
    if amenity:
        return "facility"
    if building and building != "no":
        return "building"
    return None


def named_places(features: Iterable[RawFeature]) -> Iterator[Place]:
    """The named features worth finding, as places."""
    for feature in features:
        name = feature.tags.get("name", "").strip()
        category = place_category(feature.tags) if name else None
        if name and not category and feature.osm_type == "node":
            category = "other"  # a named point (a road barrier, a gate): found by its name
        if category:
            yield Place(name, "place", feature.lat, feature.lon, category)


def addresses(features: Iterable[RawFeature]) -> Iterator[Place]:
    """One place per house number (addr:street or addr:place + addr:housenumber; "12;14" is two)."""
    for feature in features:
        street = (feature.tags.get("addr:street") or feature.tags.get("addr:place") or "").strip()
        numbers = feature.tags.get("addr:housenumber", "")
        if not street:
            continue
        for number in re.split(r"[;,]", numbers):
            if number.strip():
                place = Place(f"{street} {number.strip()}", "address", feature.lat, feature.lon, "address")
                yield replace(place, housenumber=number.strip(), number_known=True, streets=(street,))


def _number_key(number: str) -> str:
    return "".join(normalise(number))


def _split_number(words: list[str]) -> tuple[list[str], str] | None:
    """The street words and the house number of "sudirman 12", "jl sudirman no 12a", "12 sudirman"."""
    if len(words) >= 3 and len(words[-1]) == 1 and words[-1].isalpha() and words[-2].isdigit():
        words = [*words[:-2], words[-2] + words[-1]]  # "12 A"
    if len(words) >= 2 and HOUSE_NUMBER.fullmatch(words[-1]):
        rest, number = words[:-1], words[-1]
        while rest and rest[-1] in NUMBER_WORDS:
            rest = rest[:-1]
    elif len(words) >= 2 and HOUSE_NUMBER.fullmatch(words[0]):
        rest, number = words[1:], words[0]
    else:
        return None
    if not [w for w in rest if w not in STREET_WORDS]:
        return None
    return rest, number


class PlaceIndex:
    """Search by words: every word typed must begin a word of the name ("sudir" finds Sudirman), or
    of a place's category ("masjid" finds mosques). "Sudirman 12" finds that house number when the
    extract has it; "Sudirman / Ahmad Yani" the junction where the two streets share a node."""

    def __init__(
        self,
        places: Iterable[Place],
        junctions: Mapping[str, Mapping[str, list[tuple[float, float]]]] | None = None,
    ) -> None:
        found = list(places)
        self.places = sorted((p for p in found if p.kind != "address"), key=lambda p: (p.name.casefold(), p.kind))
        self._words = [normalise(p.name) for p in self.places]
        words_of = {c: _category_words(c) for c in CATEGORIES}
        self._kind_words = [
            words_of.get(p.category, frozenset()) if p.kind == "place" else frozenset() for p in self.places
        ]
        # " word word": a typed word begins a word of the name (or category) when " " + it occurs here
        self._joined = [
            "".join(" " + w for w in [*words, *sorted(kinds)])
            for words, kinds in zip(self._words, self._kind_words, strict=True)
        ]
        self._meaningful_words = [_meaningful(words) for words in self._words]
        self._everything = _Haystack(self._joined, list(range(len(self._joined))))
        street_ids = [i for i, p in enumerate(self.places) if p.kind == "street"]
        self._streets = _Haystack([self._joined[i] for i in street_ids], street_ids)
        # house numbers by their street's meaningful words
        self.addresses: dict[tuple[str, ...], dict[str, Place]] = {}
        for place in found:
            if place.kind == "address":
                key = tuple(_meaningful(normalise(place.streets[0])))
                self.addresses.setdefault(key, {}).setdefault(_number_key(place.housenumber), place)
        self._address_keys = list(self.addresses)
        self._address_joined = ["".join(" " + w for w in key) for key in self._address_keys]
        self.junctions = junctions or {}

    def __len__(self) -> int:
        return len(self.places)

    def search(self, query: str, limit: int = 10) -> list[Place]:
        if limit <= 0:
            return []
        results: list[Place] = []
        parts = [p for p in JUNCTION_SEPARATOR.split(query) if normalise(p)]
        if len(parts) >= 2 and JUNCTION_SEPARATOR.search(query):
            first, second = _strip_junction_word(normalise(parts[0])), normalise(parts[1])
            results += self._junctions(first, second)
            if not results:  # they do not meet in the extract: each street, the call-taker picks
                results += [*self._plain(first, 3, streets_only=True), *self._plain(second, 3, streets_only=True)]
            return _unique(results)[:limit]
        words = normalise(query)
        if len(words) >= 3 and words[0] in JUNCTION_WORDS:
            rest = words[1:]
            for cut in range(1, len(rest)):
                results += self._junctions(rest[:cut], rest[cut:])
        numbered = _split_number(words)
        street_only: list[Place] = []
        if numbered:
            street_words, number = numbered
            found = self._house(street_words, number)
            results += found
            if not found:
                street_only = [
                    replace(p, housenumber=number, number_known=False)
                    for p in self._plain(street_words, limit)
                    if p.kind == "street"
                ]
        results += self._plain(words, limit)
        results += street_only
        return _unique(results)[:limit]

    def _scored(self, words_typed: list[str], streets_only: bool = False) -> list[tuple[int, int, int, int]]:
        typed = _meaningful(words_typed)
        if not typed:
            return []
        wants_street = any(w in STREET_WORDS for w in words_typed)  # "jl sudirman": the street first
        wanted = {c for word in typed for c in CATEGORY_OF_WORD.get(word, ())}
        scored: list[tuple[int, int, int, int]] = []
        needles = sorted({" " + t for t in typed}, key=len, reverse=True)  # the longest is the rarest
        first, rest = needles[0], needles[1:]
        haystack = self._streets if streets_only else self._everything
        joined, places, kind_words, words = self._joined, self.places, self._kind_words, self._meaningful_words
        for i in haystack.having(first):
            if rest and not all(n in joined[i] for n in rest):
                continue
            place = places[i]
            meaningful = words[i]
            named = ([t for t in typed if t not in kind_words[i]] or typed) if kind_words[i] else typed
            exact = meaningful in (typed, named)
            starts = bool(meaningful) and meaningful[0].startswith(named[0])
            if wants_street or wanted:
                other = int(not ((wants_street and place.kind == "street") or place.category in wanted))
            else:
                other = 0
            scored.append((other, 0 if exact else 1 if starts else 2, len(place.name), i))
        scored.sort()
        return scored

    def _plain(self, words_typed: list[str], limit: int, streets_only: bool = False) -> list[Place]:
        return [self.places[i] for *_, i in self._scored(words_typed, streets_only)[: max(0, limit)]]

    def _house(self, street_words: list[str], number: str) -> list[Place]:
        typed = _meaningful(street_words)
        wanted = [" " + t for t in typed]
        key = _number_key(number)
        found: list[tuple[int, int, Place]] = []
        for street, joined in zip(self._address_keys, self._address_joined, strict=True):
            if key in self.addresses[street] and all(w in joined for w in wanted):
                exact = list(street) == typed
                found.append((0 if exact else 1, len(joined), self.addresses[street][key]))
        found.sort(key=lambda f: f[:2])
        return [f[2] for f in found]

    def _junctions(self, first: list[str], second: list[str], per_side: int = 30) -> list[Place]:
        if not _meaningful(first) or not _meaningful(second) or not self.junctions:
            return []
        side_a = self._scored(first, streets_only=True)[:per_side]
        side_b = self._scored(second, streets_only=True)[:per_side]
        found: list[tuple[int, int, Place]] = []
        for _, quality_a, _, i in side_a:
            name_a = self.places[i].name
            meets = self.junctions.get(name_a, {})
            for _, quality_b, _, j in side_b:
                name_b = self.places[j].name
                for lat, lon in _clustered(meets.get(name_b, [])) if name_a != name_b else []:
                    place = Place(f"{name_a} / {name_b}", "junction", lat, lon, "junction", streets=(name_a, name_b))
                    found.append((quality_a + quality_b, len(place.name), place))
        found.sort(key=lambda f: f[:2])
        return [f[2] for f in found]

    @classmethod
    def from_extract(cls, path: Path | str) -> PlaceIndex:
        builder = PlaceIndexBuilder()
        for record in read_records(path):
            builder.add(record)
        return builder.build()


class PlaceIndexBuilder:
    """A :class:`PlaceIndex` gathered while an extract's ways and features stream by (see
    `routing.osm.read_records`); only the places are kept."""

    def __init__(self) -> None:
        self._junctions = JunctionFinder()
        self._streets = Streets()
        self._found: list[Place] = []

    def add(self, record: RawWay | RawFeature) -> None:
        if isinstance(record, RawWay):
            self._junctions.add(record)
            self._streets.add(record)
        else:
            self._found += [*named_places([record]), *addresses([record])]

    def build(self) -> PlaceIndex:
        return PlaceIndex([*self._streets.places(), *self._found], self._junctions.junctions())


class _Haystack:
    """Entries' " word word" strings in one string: the entries holding a text are found by str.find
    in C, touching only the entries that hold it (a scan of every entry cost a Python step each)."""

    def __init__(self, joined: list[str], ids: list[int]) -> None:
        self.joined = joined
        self.text = "\n".join(joined)  # no typed text holds a newline: a hit never spans two entries
        self.starts = []
        offset = 0
        for entry in joined:
            self.starts.append(offset)
            offset += len(entry) + 1
        self.ids = ids

    def having(self, needle: str) -> Iterable[int]:
        if len(needle) <= 3:  # " a", " da": in many entries, a plain pass over them is quicker
            return [i for i, entry in zip(self.ids, self.joined, strict=True) if needle in entry]
        return self._found(needle)

    def _found(self, needle: str) -> Iterator[int]:
        text, starts, at = self.text, self.starts, self.text.find(needle)
        while at >= 0:
            k = bisect_right(starts, at) - 1
            yield self.ids[k]
            at = text.find(needle, starts[k + 1]) if k + 1 < len(starts) else -1


def _category_words(category: str) -> frozenset[str]:
    ind, eng, more = CATEGORIES.get(category, ("", "", ()))
    return frozenset(w for text in (ind, eng, *more) for w in normalise(text))


#: search word → the categories it names ("masjid" → mosque)
CATEGORY_OF_WORD: dict[str, set[str]] = {}
for _category in CATEGORIES:
    if _category not in ("street", "address", "junction"):
        for _word in _category_words(_category):
            CATEGORY_OF_WORD.setdefault(_word, set()).add(_category)


def _strip_junction_word(words: list[str]) -> list[str]:
    return words[1:] if len(words) > 1 and words[0] in JUNCTION_WORDS else words


def _unique(places: list[Place]) -> list[Place]:
    seen: set[tuple[str, str, float, float]] = set()
    kept = []
    for place in places:
        key = (place.name, place.kind, place.lat, place.lon)
        if key not in seen:
            seen.add(key)
            kept.append(place)
    return kept


def _clustered(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """One point per place where two streets meet: nodes closer than SAME_JUNCTION_M are one junction."""
    kept: list[tuple[float, float]] = []
    for lat, lon in points:
        scale = math.cos(math.radians(lat))
        if all(math.hypot(lat - a, (lon - b) * scale) * 111_195 > SAME_JUNCTION_M for a, b in kept):
            kept.append((lat, lon))
    return kept


class JunctionFinder:
    """Where named streets meet, gathered while the ways stream by (the ways are not kept)."""

    def __init__(self) -> None:
        self._names_at: dict[int, set[str]] = {}
        self._where: dict[int, tuple[float, float]] = {}

    def add(self, way: RawWay) -> None:
        name = way.tags.get("name", "").strip()
        if name and way.tags.get("highway", "") not in HIDDEN_ROADS:
            for node, lat, lon in zip(way.node_ids, way.lats, way.lons, strict=True):
                if not (math.isnan(lat) or math.isnan(lon)):
                    self._names_at.setdefault(node, set()).add(name)
                    self._where[node] = (lat, lon)

    def junctions(self) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """street → other street → the nodes they share (both ways round)."""
        meets: dict[str, dict[str, list[tuple[float, float]]]] = {}
        for node, names in self._names_at.items():
            if len(names) < 2:
                continue
            for a in names:
                for b in names:
                    if a != b:
                        meets.setdefault(a, {}).setdefault(b, []).append(self._where[node])
        return meets


def _points(way: RawWay) -> list[tuple[float, float]]:
    return [(lat, lon) for lat, lon in zip(way.lats, way.lons, strict=True) if not (math.isnan(lat) or math.isnan(lon))]


def streets(ways: Iterable[RawWay]) -> Iterator[Place]:
    """One place per street name: the road node nearest the middle of all the street's nodes."""
    found = Streets()
    for way in ways:
        found.add(way)
    return found.places()


class Streets:
    """:func:`streets` gathered while the ways stream by."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[tuple[float, float]]] = {}

    def add(self, way: RawWay) -> None:
        name = way.tags.get("name", "").strip()
        if name and way.tags.get("highway", "") not in HIDDEN_ROADS:
            self._by_name.setdefault(name, []).extend(_points(way))

    def places(self) -> Iterator[Place]:
        for name, points in self._by_name.items():
            if not points:
                continue
            lat_c = sum(p[0] for p in points) / len(points)
            lon_c = sum(p[1] for p in points) / len(points)
            lat, lon = min(points, key=lambda p: (p[0] - lat_c) ** 2 + (p[1] - lon_c) ** 2)
            yield Place(name, "street", lat, lon, "street")


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
