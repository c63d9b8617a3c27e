"""A server builds its roads when it starts (gunicorn.conf.py's post_worker_init, `warroom serve`):
the router with every profile, the map layers and the address index, from one read of the extract
(the graph from its cache), so its first dispatcher, map and address search wait for nothing;
without an extract there is nothing to build."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

import routing.extract
from cad.roads import RoadNetwork

REPO = Path(__file__).resolve().parents[2]
BALIKPAPAN = Path(os.environ.get("WARROOM_DATA_DIR", REPO.parent / "shared" / "data")) / "balikpapan_kota.overpass.json"


def _network(path: str, cache: Path) -> RoadNetwork:
    return RoadNetwork(path, cache, lambda: datetime.now(UTC), 900.0)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files routing.extract reads, one entry per read."""
    read: list[str] = []
    real = routing.extract.read_records

    def counted(path: Path | str) -> object:
        read.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(routing.extract, "read_records", counted)
    return read


@pytest.mark.parametrize("cached", [False, True], ids=["no cache yet", "graph cached"])
def test_preload_builds_everything_from_one_read_of_the_extract(tmp_path: Path, reads: list[str], cached: bool) -> None:
    if not BALIKPAPAN.exists():
        pytest.skip(f"{BALIKPAPAN.name} not found (set WARROOM_DATA_DIR)")
    if cached:
        assert _network(str(BALIKPAPAN), tmp_path).preload(zooms=(), places=False)  # writes the cache
        reads.clear()
    network = _network(str(BALIKPAPAN), tmp_path)
    assert network.preload() is True
    assert reads == [BALIKPAPAN.name]  # graph (or its cache), levels, labels, places: one read
    router = network._router
    assert router is not None and set(router._profiles) == set(router.profiles)  # no first-query build left
    assert {16, 15} <= set(network._layers) and network._map is not None
    assert network.road_layer(16) is network.road_layer(16)  # kept, not rebuilt
    assert network.labels().features > 100 and len(network.places()) > 100
    assert reads == [BALIKPAPAN.name]


def test_only_the_map_reads_the_extract_and_routing_does_not_wait_for_it(tmp_path: Path, reads: list[str]) -> None:
    if not BALIKPAPAN.exists():
        pytest.skip(f"{BALIKPAPAN.name} not found (set WARROOM_DATA_DIR)")
    network = _network(str(BALIKPAPAN), tmp_path)
    assert network.preload(roads=False) is True and network._router is None
    assert reads == [BALIKPAPAN.name]


def test_without_an_extract_nothing_is_built(tmp_path: Path) -> None:
    network = _network("", tmp_path)
    assert network.preload() is False and network._router is None
    assert network._layers == {} and network._map is None
    assert len(network.places()) == 0 and network.labels().features == 0 and network.road_layer(16).features == 0
