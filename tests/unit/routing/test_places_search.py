"""Address search beyond street names, on a hand-written Overpass extract of a small town
(tests/unit/data/places/town.overpass.json): named places found by name or by what they are, house
numbers, and junctions. Jalan Jenderal Sudirman is a divided road (two one-way ways) crossed by
Jalan Ahmad Yani: two shared nodes 22 m apart, one junction."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest

from routing.osm import read_features
from routing.places import Place, PlaceIndex, place_category

TOWN = Path(__file__).resolve().parents[1] / "data" / "places" / "town.overpass.json"


@pytest.fixture(scope="module")
def town() -> PlaceIndex:
    return PlaceIndex.from_extract(TOWN)


def first(index: PlaceIndex, query: str) -> Place:
    found = index.search(query)
    assert found, query
    return found[0]


def test_named_places_say_what_they_are_in_both_languages(town: PlaceIndex) -> None:
    mosque = first(town, "raya")
    assert (mosque.name, mosque.kind, mosque.category) == ("Raya", "place", "mosque")
    assert mosque.label == {"id": "masjid", "en": "mosque"}
    assert (mosque.lat, mosque.lon) == (-1.2590, 116.8310)
    assert first(town, "Puskesmas Klandasan").label == {"id": "puskesmas/klinik", "en": "clinic"}
    assert first(town, "pasar klandasan").category == "market"
    assert first(town, "GPIB").label == {"id": "gereja", "en": "church"}
    assert first(town, "halte sudirman").category == "bus_stop"
    assert first(town, "gerbang pelabuhan").category == "other"  # a named point without a useful tag


def test_a_search_word_finds_the_kind(town: PlaceIndex) -> None:
    # the mosque is named only "Raya": "masjid" finds it by what it is, before the street "Jalan Rayakan"
    assert [p.name for p in town.search("masjid raya")] == ["Raya"]
    assert [p.name for p in town.search("mosque")] == ["Raya"]
    assert [p.name for p in town.search("MESJID")] == ["Raya"]
    assert first(town, "sekolah").name == "SD Negeri 012 Balikpapan"
    assert first(town, "puskesmas").category == "clinic"
    assert first(town, "pasar").name == "Pasar Klandasan"
    assert first(town, "gereja").name == "GPIB Immanuel"


def test_a_building_is_found_at_its_middle(town: PlaceIndex) -> None:
    school = first(town, "sd negeri 012")
    assert school.category == "school" and school.label == {"id": "sekolah", "en": "school"}
    assert school.lat == pytest.approx(-1.2590) and school.lon == pytest.approx(116.8330)


def test_exact_and_prefix_matches_first(town: PlaceIndex) -> None:
    assert [p.name for p in town.search("raya")] == ["Raya", "Jalan Rayakan"]  # exact name before a prefix
    assert [p.name for p in town.search("jl raya")] == ["Jalan Rayakan", "Raya"]  # "jl": the street first
    assert first(town, "klandasan").name == "Pasar Klandasan"  # shorter name first among word matches


def test_case_accents_and_street_word_abbreviations(town: PlaceIndex) -> None:
    assert first(town, "RUA SAO JOSE").name == "Rua São José"
    assert first(town, "jl. jend. sudirman").name == "Jalan Jenderal Sudirman"
    assert first(town, "Jln Sudirman").kind == "street"
    assert first(town, "gg melati").name == "Gang Melati"


@pytest.mark.parametrize(
    "query",
    ["Sudirman / Ahmad Yani", "jl. jend. sudirman & jl ahmad yani", "sudirman x a yani", "SUDIRMAN + YANI"],
)
def test_a_junction_both_ways_round_and_one_for_a_divided_road(town: PlaceIndex, query: str) -> None:
    found = town.search(query)
    assert [p.kind for p in found] == ["junction"]  # two shared nodes 22 m apart: one junction
    junction = found[0]
    assert junction.name == "Jalan Jenderal Sudirman / Jalan Ahmad Yani"
    assert junction.streets == ("Jalan Jenderal Sudirman", "Jalan Ahmad Yani")
    assert (junction.lat, junction.lon) in ((-1.26, 116.832), (-1.2602, 116.832))
    assert junction.label == {"id": "simpang", "en": "junction"}


def test_a_junction_in_the_order_typed_and_without_a_separator(town: PlaceIndex) -> None:
    other_way = first(town, "ahmad yani / sudirman")
    assert other_way.kind == "junction" and other_way.streets == ("Jalan Ahmad Yani", "Jalan Jenderal Sudirman")
    assert (other_way.lat, other_way.lon) == (
        first(town, "sudirman / ahmad yani").lat,
        first(town, "sudirman / yani").lon,
    )
    simpang = first(town, "simpang sudirman ahmad yani")
    assert simpang.kind == "junction" and simpang.streets == ("Jalan Jenderal Sudirman", "Jalan Ahmad Yani")
    melati = first(town, "simpang melati yani")
    assert melati.streets == ("Gang Melati", "Jalan Ahmad Yani") and (melati.lat, melati.lon) == (-1.262, 116.832)


def test_streets_that_do_not_meet_give_each_street(town: PlaceIndex) -> None:
    found = town.search("Sudirman / Melati")
    assert "junction" not in [p.kind for p in found]
    assert [p.name for p in found] == ["Jalan Jenderal Sudirman", "Gang Melati"]
    assert (
        town.search("zzz / yyy") == []
        and town.search("/") == []
        and "Jalan Jenderal Sudirman" in [p.name for p in town.search("sudirman /")]
    )


@pytest.mark.parametrize(
    "query", ["Jalan Sudirman 12", "jl. jend. sudirman no. 12", "12 sudirman", "SUDIRMAN NOMOR 12"]
)
def test_a_house_number_the_extract_has(town: PlaceIndex, query: str) -> None:
    found = first(town, query)
    assert (found.kind, found.name, found.housenumber, found.number_known) == (
        "address",
        "Jalan Jenderal Sudirman 12",
        "12",
        True,
    )
    assert (found.lat, found.lon) == (-1.25995, 116.8310)
    assert found.label == {"id": "alamat", "en": "address"} and found.streets == ("Jalan Jenderal Sudirman",)


def test_house_numbers_of_a_building_a_list_and_a_letter(town: PlaceIndex) -> None:
    house = first(town, "jl ahmad yani 7a")
    assert house.kind == "address" and house.lat == pytest.approx(-1.2590) and house.lon == pytest.approx(116.8322)
    assert first(town, "ahmad yani 7 A") == house
    assert first(town, "sudirman 16").name == "Jalan Jenderal Sudirman 16"  # "14;16": two numbers, one point
    assert (first(town, "sudirman 14").lat, first(town, "sudirman 14").lon) == (-1.25995, 116.8312)
    shop = first(town, "yani 9")
    assert shop.kind == "address" and (shop.lat, shop.lon) == (-1.2610, 116.8321)
    assert first(town, "toko makmur").category == "supermarket"  # a shop with an address is a place too


def test_a_house_number_the_extract_lacks_gives_the_street_with_a_note(town: PlaceIndex) -> None:
    found = town.search("Jalan Sudirman 99")
    assert [p.kind for p in found] == ["street"]
    street = found[0]
    assert (street.name, street.housenumber, street.number_known) == ("Jalan Jenderal Sudirman", "99", False)
    assert street.label == {"id": "jalan, nomor 99 tidak diketahui", "en": "street, number 99 not known"}
    assert first(town, "sudirman 1").number_known is False  # typing on: no number begins the search
    assert town.search("99") == [] and town.search("jalan 12") == []  # a number alone names no street


def test_features_skip_roads_and_read_buildings_at_their_middle() -> None:
    features = {f.osm_id: f for f in read_features(TOWN)}
    assert 101 not in features and 107 not in features and 1 not in features  # roads, plain nodes
    assert features[130].osm_type == "way" and features[130].lat == pytest.approx(-1.2590)
    assert place_category({"amenity": "place_of_worship", "religion": "muslim"}) == "mosque"
    assert place_category({"amenity": "clinic"}) == place_category({"healthcare": "centre"}) == "clinic"
    assert place_category({"amenity": "hospital"}) == "hospital"
    assert place_category({"building": "yes"}) == "building" and place_category({"oneway": "yes"}) is None


def test_a_pbf_or_osm_file_gives_the_same_answers(tmp_path: Path, town: PlaceIndex) -> None:
    """The same town as OSM XML, read through pyosmium (what a .pbf goes through)."""
    document = json.loads(TOWN.read_text(encoding="utf-8"))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for e in document["elements"]:
        tags = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in (e.get("tags") or {}).items())
        if e["type"] == "node":
            lines.append(f'<node id="{e["id"]}" version="1" lat="{e["lat"]}" lon="{e["lon"]}">{tags}</node>')
        else:
            refs = "".join(f'<nd ref="{n}"/>' for n in e["nodes"])
            lines.append(f'<way id="{e["id"]}" version="1">{refs}{tags}</way>')
    lines.append("</osm>")
    path = tmp_path / "town.osm"
    path.write_text("\n".join(lines), encoding="utf-8")
    xml = PlaceIndex.from_extract(path)
    for query in ("masjid raya", "sekolah", "sudirman / yani", "sudirman 12", "sudirman 99", "yani 7a", "halte"):
        assert [(p.name, p.kind) for p in xml.search(query)] == [(p.name, p.kind) for p in town.search(query)], query
        assert [p.lat for p in xml.search(query)] == pytest.approx([p.lat for p in town.search(query)])


def test_an_overpass_center_is_read_and_a_malformed_element_skipped() -> None:
    from routing.osm import features_from_overpass

    document = {
        "elements": [
            {
                "type": "relation",
                "id": 1,
                "center": {"lat": -1.25, "lon": 116.83},
                "tags": {"name": "Pasar Baru", "amenity": "marketplace"},
            },
            {
                "type": "way",
                "id": 2,
                "center": {"lat": "north"},
                "tags": {"name": "Masjid Agung", "amenity": "place_of_worship"},
            },
            {"type": "way", "id": 3, "nodes": [9, 10], "tags": {"name": "Gedung Tanpa Titik", "building": "yes"}},
        ]
    }
    assert [(f.osm_type, f.osm_id, f.lat, f.lon) for f in features_from_overpass(document)] == [
        ("relation", 1, -1.25, 116.83)
    ]
