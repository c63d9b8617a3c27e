"""The light road layer (routing.map_layer): valid GeoJSON, within half a pixel of the roads, minor
roads only when zoomed in, the major roads at every level. On hand-made ways and on the real extracts."""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import shapely
from requirements import need_file

from routing.map_layer import (
    MAX_ZOOM,
    MIN_ZOOM,
    ROAD_CLASS_ZOOM,
    RoadLines,
    decimals_for,
    level_of,
    light_road_layer,
    pixel_deg,
)
from routing.osm import RawWay, read_ways
from routing.places import MAJOR_ROADS

DATA_DIR = Path(os.environ.get("WARROOM_DATA_DIR") or Path(__file__).resolve().parents[4] / "shared" / "data")
POA_PBF = DATA_DIR / "poa_osm.pbf"
BALIKPAPAN_JSON = DATA_DIR / "balikpapan_kota.overpass.json"

LEVELS = range(MIN_ZOOM, MAX_ZOOM + 1)


def way(way_id: int, points: list[tuple[float, float]], highway: str, name: str | None = None) -> RawWay:
    tags = {"highway": highway, **({"name": name} if name else {})}
    return RawWay(way_id, tuple(range(len(points))), tuple(p[0] for p in points), tuple(p[1] for p in points), tags)


# a primary road in two ways that meet, with a kink of 0.3 m and one of 30 m; a residential
# street, a service road, a footway, and a way with one point of its two missing
WAYS = [
    way(1, [(-1.2700, 116.8300), (-1.270003, 116.8310), (-1.2700, 116.8320)], "primary", "Jalan Sudirman"),
    way(2, [(-1.2700, 116.8320), (-1.2697, 116.8330), (-1.2700, 116.8340)], "primary_link"),
    way(3, [(-1.2650, 116.8400), (-1.2660, 116.8410)], "residential", "Gang Sudimampir"),
    way(4, [(-1.2600, 116.8400), (-1.2600, 116.8405)], "service"),
    way(5, [(-1.2000, 116.8000), (-1.2100, 116.8000)], "footway"),
    way(6, [(math.nan, math.nan), (-1.2500, 116.8500)], "residential"),
]


@pytest.fixture(scope="module", params=[POA_PBF, BALIKPAPAN_JSON], ids=["porto_alegre", "balikpapan"])
def extract(request: pytest.FixtureRequest) -> tuple[list[RawWay], RoadLines]:
    ways = list(read_ways(need_file(request.param, "OSM extract")))
    return ways, RoadLines.from_ways(ways)


def assert_valid_geojson(layer: dict[str, Any]) -> None:
    """RFC 7946 as the consoles use it: a FeatureCollection of MultiLineStrings of [lon, lat] pairs."""
    assert layer["type"] == "FeatureCollection" and isinstance(layer["features"], list)
    for feature in layer["features"]:
        assert feature["type"] == "Feature" and set(feature) == {"type", "geometry", "properties"}
        geometry = feature["geometry"]
        assert geometry["type"] == "MultiLineString" and geometry["coordinates"]
        for line in geometry["coordinates"]:
            assert len(line) >= 2
            for position in line:
                assert len(position) == 2 and all(isinstance(v, float) and math.isfinite(v) for v in position)
                assert -180 <= position[0] <= 180 and -90 <= position[1] <= 90
            assert all(a != b for a, b in itertools.pairwise(line))  # no point repeated
        assert shapely.from_geojson(json.dumps(geometry)).is_valid  # GEOS reads it back
        assert isinstance(feature["properties"]["highway"], str) and isinstance(feature["properties"]["major"], bool)


def classes(layer: dict[str, Any]) -> set[str]:
    return {f["properties"]["highway"] for f in layer["features"]}


def test_levels_and_their_pixel() -> None:
    assert [level_of(z) for z in (0, 9, 10, 15, 17, 18, 22)] == [10, 10, 10, 15, 17, 17, 17]
    assert pixel_deg(0) == 360 / 256 and pixel_deg(16) == pytest.approx(360 / 256 / 65536)
    assert decimals_for(13) == 4 and decimals_for(14) == 5


def test_minor_roads_only_when_zoomed_in_and_never_footways() -> None:
    assert classes(light_road_layer(WAYS, 12)) == {"primary"}
    assert classes(light_road_layer(WAYS, 13)) == {"primary", "residential"}
    assert classes(light_road_layer(WAYS, 15)) == {"primary", "residential", "service"}
    for zoom in LEVELS:
        layer = light_road_layer(WAYS, zoom)
        assert_valid_geojson(layer)
        assert "footway" not in classes(layer)
        primary = next(f for f in layer["features"] if f["properties"]["highway"] == "primary")
        assert primary["properties"]["major"] is True
        assert "name" not in primary["properties"]


def test_ways_of_a_class_are_merged_and_simplified_to_half_a_pixel() -> None:
    """The primary and its link meet at 116.832: one line. The 0.3 m kink is gone at every level,
    the 33 m one stays where half a pixel is shorter (from zoom 12, where it is 19 m)."""
    for zoom, kink_kept in [(10, False), (11, False), (12, True), (17, True)]:
        layer = light_road_layer(WAYS, zoom)
        (line,) = next(f for f in layer["features"] if f["properties"]["highway"] == "primary")["geometry"][
            "coordinates"
        ]
        assert line[0] == [116.83, -1.27] and line[-1] == [116.834, -1.27]
        assert [116.831, -1.27] not in line  # the 0.3 m kink: simplified away, and the point rounded
        assert ([116.833, -1.2697] in line) is kink_kept, (zoom, line)


def test_every_level_of_the_extracts_is_valid_and_stays_within_half_a_pixel(
    extract: tuple[list[RawWay], RoadLines],
) -> None:
    _, lines = extract
    for zoom in LEVELS:
        layer = light_road_layer(lines, zoom)
        assert_valid_geojson(layer)
        # every point of each class's roads is within half a pixel (plus the rounding) of its drawn lines
        slack = 0.5 * pixel_deg(zoom) + 0.5 * 10 ** -decimals_for(zoom) * math.sqrt(2)
        for feature in layer["features"]:
            drawn = shapely.get_parts(shapely.from_geojson(json.dumps(feature["geometry"])))
            original = shapely.points(shapely.get_coordinates(lines.by_class[feature["properties"]["highway"]]))
            _, distances = shapely.STRtree(drawn).query_nearest(original, return_distance=True, all_matches=False)
            assert distances.max() <= slack * 1.01, (zoom, feature["properties"])


def test_major_roads_at_every_level_and_every_road_at_the_finest(extract: tuple[list[RawWay], RoadLines]) -> None:
    _, lines = extract
    for zoom in LEVELS:
        drawn = classes(light_road_layer(lines, zoom))
        wanted = {c for c in lines.by_class if c in MAJOR_ROADS and ROAD_CLASS_ZOOM[c] <= zoom}
        assert "primary" in drawn and wanted <= drawn, (zoom, wanted - drawn)
    finest = light_road_layer(lines, MAX_ZOOM)
    assert classes(finest) == set(lines.by_class)  # every drawn class of the whole layer
    for feature in finest["features"]:  # and their length, to within a percent
        drawn_m = shapely.from_geojson(json.dumps(feature["geometry"])).length
        assert drawn_m == pytest.approx(lines.by_class[feature["properties"]["highway"]].length, rel=0.01)
