"""A server builds its roads when it starts (gunicorn.conf.py's post_worker_init, `warroom serve`):
the router with every profile, the map layers and the address index, from one read of the extract
(the graph from its cache), so its first dispatcher, map and address search wait for nothing;
without an extract there is nothing to build."""

import os
import subprocess
import sys
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


def test_a_worker_ready_to_serve_keeps_what_it_built_out_of_the_collectors_view(tmp_path: Path) -> None:
    """gunicorn.conf.py's post_worker_init builds the roads, then freezes the heap: a full
    collection then walks only what requests allocate (over the app and Porto Alegre's roads it
    took 100-140 ms, in whichever request set it off). In a child process: the freeze is for life."""
    if not BALIKPAPAN.exists():
        pytest.skip(f"{BALIKPAPAN.name} not found (set WARROOM_DATA_DIR)")
    script = """
import gc, logging, runpy, sys
from cad.app import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
class Worker:
    wsgi = app
    log = logging.getLogger("worker")
before = len(gc.get_objects())
runpy.run_path("gunicorn.conf.py")["post_worker_init"](Worker())
router = app.extensions["warroom.roads"]._router
print(before, gc.get_freeze_count(), len(gc.get_objects()), router is not None)
"""
    env = {**os.environ, "WARROOM_ROADS": str(BALIKPAPAN), "WARROOM_INSTANCE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    before, frozen, tracked, routed = out.stdout.split()
    assert routed == "True"  # the roads were built first, then frozen with the rest
    assert int(frozen) > int(before) > 10_000  # everything of the start-up, the roads included
    assert int(tracked) < 1_000  # what the collector still walks
