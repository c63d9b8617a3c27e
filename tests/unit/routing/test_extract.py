"""One read of an extract gives what the readers of ways and features give read apart: the same
graph, map lines, street labels and address index, for Overpass JSON and for a file pyosmium
reads (OSM XML here, as PBF)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pytest
import shapely
from requirements import need_file

from routing.extract import read_extract
from routing.map_layer import RoadLines, street_labels
from routing.osm import read_features, read_records, read_ways
from routing.places import JunctionFinder, Place, PlaceIndex, addresses, named_places, streets
from routing.store import build_from_extract

BALIKPAPAN_JSON = (
    Path(os.environ.get("WARROOM_DATA_DIR") or Path(__file__).resolve().parents[4] / "shared" / "data")
    / "balikpapan_kota.overpass.json"
)
TOWN = Path(__file__).resolve().parents[1] / "data" / "places" / "town.overpass.json"


def as_osm_xml(source: Path, target: Path) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6">']
    for e in json.loads(source.read_text())["elements"]:
        tags = "".join(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in (e.get("tags") or {}).items())
        if e["type"] == "node":
            lines.append(f'<node id="{e["id"]}" version="1" lat="{e["lat"]}" lon="{e["lon"]}">{tags}</node>')
        else:
            refs = "".join(f'<nd ref="{n}"/>' for n in e["nodes"])
            lines.append(f'<way id="{e["id"]}" version="1">{refs}{tags}</way>')
    lines.append("</osm>")
    target.write_text("\n".join(lines), encoding="utf-8")
    return target


def places_read_apart(path: Path) -> list[Place]:
    finder = JunctionFinder()
    for way in read_ways(path):
        finder.add(way)
    found = list(streets(read_ways(path)))
    for feature in read_features(path):
        found += [*named_places([feature]), *addresses([feature])]
    index = PlaceIndex(found, finder.junctions())
    return [*index.places, *(p for by_number in index.addresses.values() for p in by_number.values())]


@pytest.fixture(params=["overpass json", "osm xml", "balikpapan"])
def extract(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "osm xml":
        return as_osm_xml(TOWN, tmp_path / "town.osm")
    return TOWN if request.param == "overpass json" else need_file(BALIKPAPAN_JSON, "OSM extract")


def test_one_read_gives_what_the_readers_give_apart(extract: Path) -> None:
    read = read_extract(extract, graph=True)
    apart = build_from_extract(extract)
    assert read.graph is not None
    for name in ("node_osm_id", "edge_tail", "edge_head", "edge_time_s", "coord_lat", "road_name"):
        assert np.array_equal(getattr(read.graph, name), getattr(apart, name)), name
    assert read.graph.names == apart.names

    assert read.map.labels == street_labels(read_ways(extract))
    lines = RoadLines.from_ways(read_ways(extract))
    assert read.map.lines.mid_lat == lines.mid_lat and set(read.map.lines.by_class) == set(lines.by_class)
    assert all(shapely.equals(read.map.lines.by_class[c], lines.by_class[c]) for c in lines.by_class)

    index = read.map.places
    assert [*index.places, *(p for n in index.addresses.values() for p in n.values())] == places_read_apart(extract)
    assert index.junctions and len(index) > 3


def test_the_graph_only_when_asked_and_the_records_are_ways_and_features(extract: Path) -> None:
    assert read_extract(extract).graph is None
    records = list(read_records(extract))
    assert [r for r in records if r.__class__.__name__ == "RawWay"] == list(read_ways(extract))
    assert [r for r in records if r.__class__.__name__ == "RawFeature"] == list(read_features(extract))


def test_a_missing_extract_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_extract(tmp_path / "gone.osm.pbf")
