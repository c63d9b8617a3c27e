"""Address search and the road layer of the consoles' map: pure, on hand-made OSM ways."""

from __future__ import annotations

import math

from routing.osm import RawWay
from routing.places import Place, PlaceIndex, normalise, road_geojson, streets


def way(way_id: int, name: str | None, points: list[tuple[float, float]], highway: str = "residential") -> RawWay:
    tags = {"highway": highway, **({"name": name} if name else {})}
    return RawWay(way_id, tuple(range(len(points))), tuple(p[0] for p in points), tuple(p[1] for p in points), tags)


WAYS = [
    way(1, "Jalan Jenderal Sudirman", [(-1.270, 116.830), (-1.270, 116.832)], "primary"),
    way(2, "Jalan Jenderal Sudirman", [(-1.270, 116.832), (-1.270, 116.834)], "primary"),
    way(3, "Gang Sudimampir", [(-1.265, 116.840), (-1.266, 116.841)]),
    way(4, "Avenida São João", [(-30.03, -51.20), (-30.04, -51.21)]),
    way(5, None, [(-1.2, 116.8), (-1.2, 116.9)]),
    way(6, "Jalan Setapak", [(-1.2, 116.8), (-1.21, 116.8)], "footway"),
    way(7, "Jalan Putus", [(math.nan, math.nan), (-1.25, 116.85)]),
]


def test_words_are_folded_without_accents_or_punctuation() -> None:
    assert normalise("Avenida São João, 12") == ["avenida", "sao", "joao", "12"]
    assert normalise("Jl. A. Yani") == ["jl", "a", "yani"]


def test_one_place_per_street_on_its_own_road() -> None:
    found = {p.name: p for p in streets(WAYS)}
    assert set(found) == {"Jalan Jenderal Sudirman", "Gang Sudimampir", "Avenida São João", "Jalan Putus"}
    middle = found["Jalan Jenderal Sudirman"]
    assert (middle.lat, middle.lon) == (-1.270, 116.832) and middle.kind == "street"
    assert (found["Jalan Putus"].lat, found["Jalan Putus"].lon) == (-1.25, 116.85)  # the missing node is skipped


def test_search_by_word_beginnings_ignoring_street_words() -> None:
    index = PlaceIndex([*streets(WAYS), Place("Halte Sudirman", "bus_stop", -1.27, 116.831)])
    assert [p.name for p in index.search("jl sudirman")] == ["Jalan Jenderal Sudirman", "Halte Sudirman"]
    assert [p.name for p in index.search("sudi")] == ["Gang Sudimampir", "Halte Sudirman", "Jalan Jenderal Sudirman"]
    assert [p.name for p in index.search("SAO JOAO")] == ["Avenida São João"]
    assert index.search("jalan") != []  # only street words: they count after all
    assert index.search("") == [] and index.search("<script>") == [] and index.search("zzz") == []
    assert len(index.search("s", limit=2)) == 2


def test_the_road_layer_is_geojson_without_footways_or_missing_points() -> None:
    layer = road_geojson(WAYS)
    assert layer["type"] == "FeatureCollection"
    names = [f["properties"]["name"] for f in layer["features"]]
    assert "Jalan Setapak" not in names and "Jalan Putus" not in names  # a footway; a single point left
    first = layer["features"][0]
    assert first["geometry"] == {"type": "LineString", "coordinates": [[116.83, -1.27], [116.832, -1.27]]}
    assert first["properties"]["major"] is True and layer["features"][2]["properties"]["major"] is False
