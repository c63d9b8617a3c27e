"""Overpass JSON read through gzip, bz2 or xz by its last suffix, the same as the plain file; a corrupt
compressed file is bad road data, a missing one is missing."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import routing
from routing import BadRoadData
from routing.osm import read_features, read_ways

NODES = [(1, 0.0, 0.0), (2, 0.0, 0.001), (3, 0.001, 0.001)]
WAYS = [(10, [1, 2, 3], {"highway": "residential", "name": "Jalan Contoh"})]
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


def _document(overpass_document: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    document = overpass_document(NODES, WAYS)
    # a named node: what the address search reads besides the roads
    document["elements"].append({"type": "node", "id": 4, "lat": -5.14, "lon": 119.42, "tags": {"name": "SD 1"}})
    return document


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_compressed_extract_reads_as_the_plain_one(tmp_path: Path, overpass_document, suffix: str) -> None:
    raw = json.dumps(_document(overpass_document)).encode()
    plain = tmp_path / "town.overpass.json"
    plain.write_bytes(raw)
    packed = tmp_path / f"town.overpass.json{suffix}"
    packed.write_bytes(COMPRESSORS[suffix](raw))

    assert list(read_ways(packed)) == list(read_ways(plain))
    assert [w.tags["name"] for w in read_ways(packed)] == ["Jalan Contoh"]
    assert [f.tags["name"] for f in read_features(packed)] == ["SD 1"]
    assert routing.load_graph(packed).edge_count == routing.load_graph(plain).edge_count == 2


def test_the_cache_of_a_compressed_extract_is_named_for_it(tmp_path: Path, overpass_document) -> None:
    packed = tmp_path / "town.overpass.json.gz"
    packed.write_bytes(gzip.compress(json.dumps(_document(overpass_document)).encode()))
    cache = routing.import_roads(packed, cache_dir=tmp_path / "cache")
    assert cache.name.startswith("town-") and cache == routing.cache_path_for(packed, tmp_path / "cache")
    assert routing.load_graph(packed, cache_dir=tmp_path / "cache").edge_count == 2


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("cut.json.gz", gzip.compress(b'{"elements": []}')[:-12]),  # truncated: EOFError inside gzip
        ("junk.json.gz", b"not gzip at all"),
        ("junk.json.bz2", b"not bzip2 at all"),
        ("junk.json.xz", b"not xz at all"),
        ("text.json.gz", gzip.compress(b"hello")),
        ("list.json.gz", gzip.compress(b"[1, 2]")),
    ],
)
def test_a_corrupt_compressed_extract_is_bad_road_data(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadRoadData, match=name):
        list(read_ways(path))
    with pytest.raises(BadRoadData):
        list(read_features(path))


def test_a_missing_compressed_extract_is_missing_not_bad(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(read_ways(tmp_path / "gone.overpass.json.gz"))
    with pytest.raises(FileNotFoundError):
        list(read_features(tmp_path / "gone.overpass.json.gz"))
