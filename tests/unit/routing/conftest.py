"""Fixtures of the routing tests: real extracts (skipped when absent) and small graphs
built from Overpass-JSON-shaped dicts."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from requirements import need_file

import routing
from routing import RoadGraph

REPO = Path(__file__).resolve().parents[3]
DATA_DIR = Path(os.environ.get("WARROOM_DATA_DIR", REPO.parent / "shared" / "data"))
POA_PBF = DATA_DIR / "poa_osm.pbf"
BALIKPAPAN_JSON = DATA_DIR / "balikpapan_kota.overpass.json"

# A spot in Makassar for synthetic graphs: 0.001 degree is about 111 m.
LAT0, LON0 = -5.1400, 119.4200

Node = tuple[int, float, float]  # id, lat offset (deg), lon offset (deg)
Way = tuple[int, Sequence[int], dict[str, str]]


def overpass_document(nodes: Sequence[Node], ways: Sequence[Way]) -> dict[str, Any]:
    """An Overpass API JSON answer with these nodes (offsets from LAT0, LON0) and ways."""
    elements: list[dict[str, Any]] = [
        {"type": "node", "id": i, "lat": LAT0 + dlat, "lon": LON0 + dlon} for i, dlat, dlon in nodes
    ]
    elements += [{"type": "way", "id": i, "nodes": list(refs), "tags": tags} for i, refs, tags in ways]
    return {"version": 0.6, "elements": elements}


def graph_of(nodes: Sequence[Node], ways: Sequence[Way], **options: Any) -> RoadGraph:
    document = overpass_document(nodes, ways)
    return routing.build_graph(routing.ways_from_overpass(document), routing.ImportOptions(**options))


@pytest.fixture(name="overpass_document")
def overpass_document_fixture() -> Callable[..., dict[str, Any]]:
    return overpass_document


@pytest.fixture
def make_graph() -> Callable[..., RoadGraph]:
    return graph_of


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 11, 21, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def poa_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return routing.import_roads(need_file(POA_PBF, "OSM extract"), cache_dir=tmp_path_factory.mktemp("roads"))


@pytest.fixture(scope="session")
def poa_graph(poa_cache: Path) -> RoadGraph:
    return routing.load_graph(poa_cache)


@pytest.fixture(scope="session")
def balikpapan_graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoadGraph]:
    yield routing.load_graph(need_file(BALIKPAPAN_JSON, "OSM extract"), cache_dir=tmp_path_factory.mktemp("roads-bpn"))
