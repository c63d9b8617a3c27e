"""A server builds the road network and the map layers when it starts (gunicorn.conf.py's
post_worker_init, `warroom serve`), so its first dispatcher, map and address search wait for
nothing; without an extract there is nothing to build."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cad.map_layers import MapLayers
from cad.roads import RoadNetwork

REPO = Path(__file__).resolve().parents[2]
BALIKPAPAN = Path(os.environ.get("WARROOM_DATA_DIR", REPO.parent / "shared" / "data")) / "balikpapan_kota.overpass.json"


def test_preload_builds_the_router_every_profile_and_the_layers(tmp_path: Path) -> None:
    if not BALIKPAPAN.exists():
        pytest.skip(f"{BALIKPAPAN.name} not found (set WARROOM_DATA_DIR)")
    network = RoadNetwork(str(BALIKPAPAN), tmp_path, lambda: datetime.now(UTC), 900.0)
    assert network.preload() is True
    router = network._router
    assert router is not None and set(router._profiles) == set(router.profiles)  # no first-query build left
    layers = MapLayers(str(BALIKPAPAN))
    assert layers.preload() is True
    assert {16, 15, "labels"} <= set(layers._roads) and layers._places is not None
    assert layers.roads(16) is layers.roads(16)  # kept, not rebuilt


def test_without_an_extract_nothing_is_built(tmp_path: Path) -> None:
    network = RoadNetwork("", tmp_path, lambda: datetime.now(UTC), 900.0)
    layers = MapLayers("")
    assert network.preload() is False and network._router is None
    assert layers.preload() is False and layers._roads == {} and layers._places is None
