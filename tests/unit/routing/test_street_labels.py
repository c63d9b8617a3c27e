"""Street names for the consoles' map: a label per way long enough to carry it, along the road,
never upside down, one per name within the spacing."""

from __future__ import annotations

import itertools
import math

from routing.map_layer import LABEL_SPACING_M, street_labels
from routing.osm import RawWay

M_PER_DEG = 111_195.0


def _way(way_id: int, name: str, points: list[tuple[float, float]], highway: str = "residential") -> RawWay:
    return RawWay(
        way_id,
        tuple(range(way_id * 100, way_id * 100 + len(points))),
        tuple(p[0] for p in points),
        tuple(p[1] for p in points),
        {"highway": highway, "name": name},
    )


def test_a_label_sits_in_the_middle_of_its_road_and_follows_it() -> None:
    east = _way(1, "Jalan Timur", [(0.0, 0.0), (0.0, 300 / M_PER_DEG)], "primary")
    north = _way(2, "Jalan Utara", [(0.0, 0.01), (300 / M_PER_DEG, 0.01)])
    south_west = _way(3, "Jalan Miring", [(0.02, 0.02), (0.02 - 200 / M_PER_DEG, 0.02 - 200 / M_PER_DEG)])
    labels = {f["properties"]["name"]: f for f in street_labels([east, north, south_west])["features"]}
    lon, lat = labels["Jalan Timur"]["geometry"]["coordinates"]
    assert abs(lat) < 1e-9 and abs(lon * M_PER_DEG - 150) < 1.5
    assert labels["Jalan Timur"]["properties"] == {"name": "Jalan Timur", "major": True, "angle": 0}
    assert abs(labels["Jalan Utara"]["properties"]["angle"]) == 90  # up the screen
    # drawn from north-east to south-west, read left to right: never upside down
    assert labels["Jalan Miring"]["properties"]["angle"] == -45  # rising to the right, as the road does
    assert all(-90 <= f["properties"]["angle"] <= 90 for f in labels.values())


def test_short_unnamed_hidden_and_crowded_roads_carry_no_label() -> None:
    step = 200 / M_PER_DEG
    pieces = [_way(10 + n, "Jalan Panjang", [(0.0, n * step), (0.0, (n + 1) * step)]) for n in range(10)]
    others = [
        _way(30, "Gang Pendek", [(0.01, 0.0), (0.01, 50 / M_PER_DEG)]),
        _way(31, "", [(0.02, 0.0), (0.02, 0.01)]),
        _way(32, "Jalan Setapak", [(0.03, 0.0), (0.03, 0.01)], "footway"),
    ]
    features = street_labels([*pieces, *others])["features"]
    assert {f["properties"]["name"] for f in features} == {"Jalan Panjang"}
    xs = sorted(f["geometry"]["coordinates"][0] * M_PER_DEG for f in features)
    assert len(xs) == math.ceil(2000 / (2 * 200))
    assert all(b - a >= LABEL_SPACING_M - 2 for a, b in itertools.pairwise(xs))  # 5 decimals: about a metre
