"""The demo city's extract travels with the package: WARROOM_ROADS unset means the bundled Balikpapan
Kota file (no ../shared/data needed), empty means no roads, anything else is that file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from cad.config import DEFAULT_ROADS, Settings
from routing.osm import read_ways
from routing.places import PlaceIndex


def test_unset_is_the_bundled_extract_empty_is_none(tmp_path: Path) -> None:
    assert Settings.from_env({"WARROOM_INSTANCE": str(tmp_path)}).roads_path == str(DEFAULT_ROADS)
    assert Settings.from_env({"WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": ""}).roads_path == ""
    mine = str(tmp_path / "makassar.osm.pbf")
    assert Settings.from_env({"WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": mine}).roads_path == mine


def test_the_bundled_extract_is_balikpapan_with_its_attribution() -> None:
    assert DEFAULT_ROADS.name.endswith(".overpass.json.gz") and DEFAULT_ROADS.stat().st_size < 300_000
    with gzip.open(DEFAULT_ROADS, "rt", encoding="utf-8") as handle:
        document = json.load(handle)
    assert document["osm3s"]["timestamp_osm_base"] == "2025-11-21T10:20:55Z"
    assert "ODbL" in document["osm3s"]["copyright"]
    notice = (DEFAULT_ROADS.parent / "README.md").read_text()
    assert "© OpenStreetMap contributors" in notice and "ODbL" in notice and "2025-11-21" in notice

    ways = list(read_ways(DEFAULT_ROADS))
    assert len(ways) == 1636
    lats = [lat for way in ways for lat in way.lats]
    lons = [lon for way in ways for lon in way.lons]
    assert min(lats) > -1.29 and max(lats) < -1.24 and min(lons) > 116.80 and max(lons) < 116.88


def test_the_readme_search_example_finds_its_junction_in_the_bundled_city() -> None:
    # README's address-search example ("sudirman / ahmad yani") must work on the demo as shipped
    results = PlaceIndex.from_extract(DEFAULT_ROADS).search("simpang sudirman yani", limit=3)
    assert results and results[0].kind == "junction"
