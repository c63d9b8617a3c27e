"""Import an OSM extract once into a cache file; load the graph from it in milliseconds.

The cache of an extract is named ``<extract stem>-<key>.wrcache`` where `key` hashes the
extract's bytes, the import options and the cache format version, so an edited extract
or changed speeds give a new file and a stale cache is never read by mistake.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

from routing.build import ImportOptions, build_graph
from routing.errors import BadRoadData
from routing.graph import CACHE_VERSION, RoadGraph
from routing.osm import read_ways

logger = logging.getLogger(__name__)

CACHE_SUFFIX = ".wrcache"


def default_cache_dir() -> Path:
    """Where caches go when the caller names no place: ``~/.cache/warroom112/roads``."""
    return Path.home() / ".cache" / "warroom112" / "roads"


def cache_path_for(
    source_path: Path | str, cache_dir: Path | str | None = None, options: ImportOptions | None = None
) -> Path:
    """The cache file an extract imports to (see the module docstring for the name)."""
    source = Path(source_path)
    options = options or ImportOptions()
    digest = hashlib.sha256()
    with open(source, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps([CACHE_VERSION, options.fingerprint()], sort_keys=True).encode())
    stem = source.name.split(".")[0] or "roads"
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return directory / f"{stem}-{digest.hexdigest()[:16]}{CACHE_SUFFIX}"


def build_from_extract(source_path: Path | str, options: ImportOptions | None = None) -> RoadGraph:
    """Read an extract (PBF/OSM through pyosmium, else Overpass JSON) into a RoadGraph."""
    source = Path(source_path)
    started = time.perf_counter()
    graph = build_graph(read_ways(source), options, source=source.name)
    logger.info(
        "built road graph from %s: %d nodes, %d edges in %.2f s",
        source,
        graph.node_count,
        graph.edge_count,
        time.perf_counter() - started,
    )
    return graph


def import_roads(
    source_path: Path | str,
    cache_path: Path | str | None = None,
    *,
    cache_dir: Path | str | None = None,
    options: ImportOptions | None = None,
) -> Path:
    """Build the road graph of an OSM extract and write its cache file; return the file.

    `source_path`: a ``.pbf``/``.osm`` file (pyosmium) or an Overpass API JSON file.
    `cache_path`: where to write; by default :func:`cache_path_for` in `cache_dir`
    (default :func:`default_cache_dir`).  Always rebuilds, replacing the file atomically,
    so workers that are loading the old file are not disturbed.
    """
    target = Path(cache_path) if cache_path is not None else cache_path_for(source_path, cache_dir, options)
    graph = build_from_extract(source_path, options)
    graph.save(target)
    logger.info("road cache written to %s", target)
    return target


def load_graph(
    path: Path | str,
    *,
    cache_dir: Path | str | None = None,
    options: ImportOptions | None = None,
) -> RoadGraph:
    """The road graph from a cache file (``*.wrcache``) or from an extract.

    Given an extract and a `cache_dir`, the cache there is used when present and valid,
    else built and written; given an extract and no `cache_dir`, the graph is built in
    memory and nothing is written.
    """
    graph, cache = cached_graph(path, cache_dir=cache_dir, options=options)
    if graph is not None:
        return graph
    graph = build_from_extract(path, options)
    if cache is not None:
        graph.save(cache)
    return graph


def cached_graph(
    path: Path | str,
    *,
    cache_dir: Path | str | None = None,
    options: ImportOptions | None = None,
) -> tuple[RoadGraph | None, Path | None]:
    """The graph of a cache file, or of an extract's valid cache in `cache_dir` (None when it has
    none yet); and the cache file an extract's graph belongs in (None without `cache_dir`)."""
    path = Path(path)
    if path.suffix == CACHE_SUFFIX:
        return RoadGraph.load(path), None
    if cache_dir is None:
        return None, None
    cached = cache_path_for(path, cache_dir, options)
    if cached.exists():
        try:
            return RoadGraph.load(cached), cached
        except BadRoadData:
            logger.warning("road cache %s is unreadable; rebuilding it", cached)
    return None, cached
