"""Everything the centre builds from its extract, from one read of the file: the road graph (when
its cache is missing), the lines every map level is cut from, the street labels and the address
index. The ways stream by once and are not kept (Porto Alegre's take 57 MB; what is kept, a few).

Pure: a file in, plain values out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from routing.build import ImportOptions, build_graph
from routing.graph import RoadGraph
from routing.map_layer import RoadLines, RoadLinesBuilder, StreetLabels
from routing.osm import RawWay, read_records
from routing.places import PlaceIndex, PlaceIndexBuilder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapData:
    """What the consoles' map and address search need of an extract."""

    lines: RoadLines  # every road layer level is cut from these (routing.map_layer.light_road_layer)
    labels: dict[str, Any]  # GeoJSON: where the map writes street names
    places: PlaceIndex


@dataclass(frozen=True)
class Extract:
    map: MapData
    graph: RoadGraph | None  # only when asked for


def read_extract(path: Path | str, *, graph: bool = False, options: ImportOptions | None = None) -> Extract:
    """The map data of an extract, and its road graph when `graph` (built from the same ways as
    routing.store.build_from_extract builds it), from one read of the file."""
    path = Path(path)
    started = time.perf_counter()
    lines, labels, places = RoadLinesBuilder(), StreetLabels(), PlaceIndexBuilder()

    def ways() -> Iterator[RawWay]:
        for record in read_records(path):
            places.add(record)
            if isinstance(record, RawWay):
                lines.add(record)
                labels.add(record)
                yield record

    road_graph = build_graph(ways(), options, source=path.name) if graph else None
    if road_graph is None:
        for _ in ways():
            pass
    extract = Extract(MapData(lines.build(), labels.layer(), places.build()), road_graph)
    logger.info(
        "read %s%s, map lines, %d street labels and %d places in %.2f s",
        path.name,
        f": road graph of {road_graph.node_count} nodes" if road_graph else "",
        len(extract.map.labels["features"]),
        len(extract.map.places),
        time.perf_counter() - started,
    )
    return extract
