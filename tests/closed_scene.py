"""A small town for the closed-road tests through the API and the browser: Jalan Utama runs
west-east; Jalan Buntu leaves it northward at the junction, and Jalan Buntu Dalam goes on to a
dead end where the scene is. Camera CAM-BUNTU sees only Jalan Buntu: when it reads "closed",
the scene has no open access, and the crew walks 222 m from the junction."""

from __future__ import annotations

import json
from pathlib import Path

LAT0, LON0 = -1.2650, 116.8300
NODES = [(1, 0.0, 0.0), (2, 0.0, 0.002), (3, 0.0, 0.004), (4, 0.0, 0.008), (30, 0.001, 0.004), (31, 0.0025, 0.004)]
WAYS = [
    (1, [1, 2, 3, 4], {"highway": "residential", "name": "Jalan Utama"}),
    (2, [3, 30], {"highway": "residential", "name": "Jalan Buntu"}),
    (3, [30, 31], {"highway": "residential", "name": "Jalan Buntu Dalam"}),
]
WEST = (LAT0, LON0)
EAST = (LAT0, LON0 + 0.008)
JUNCTION = (LAT0, LON0 + 0.004)
SCENE = (LAT0 + 0.002, LON0 + 0.004)
CAMERA = (LAT0 + 0.0005, LON0 + 0.004)
CAMERA_RADIUS_M = 20.0
WALK_M = 0.002 * 111_100  # junction → scene along both Buntu roads (m, near the equator)


def write_extract(folder: Path) -> Path:
    """The town as an Overpass JSON file (what WARROOM_ROADS loads)."""
    elements: list[dict[str, object]] = [
        {"type": "node", "id": i, "lat": LAT0 + dlat, "lon": LON0 + dlon} for i, dlat, dlon in NODES
    ]
    elements += [{"type": "way", "id": i, "nodes": refs, "tags": tags} for i, refs, tags in WAYS]
    path = folder / "closed_scene.overpass.json"
    path.write_text(json.dumps({"version": 0.6, "elements": elements}))
    return path
