"""The consoles' map layers of the configured extract: the road layer (whole, or light for one zoom
level) and the address index, each built once per process on first use and kept.

A road layer is kept as the bytes sent and their ETag, so a request costs a lookup (and a
reload with the ETag a 304). Porto Alegre reads in 0.6 s; then a level builds in under 0.5 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from routing.map_layer import RoadLines, level_of, light_road_layer, street_labels
from routing.osm import RawWay, read_ways
from routing.places import PlaceIndex, road_geojson

log = logging.getLogger(__name__)
#: The levels a page asks for on opening: the consoles' (16) and the crew phone's (15), see common.js.
PRELOAD_ZOOMS = (16, 15)


@dataclass(frozen=True)
class EncodedLayer:
    body: bytes  # compact JSON
    etag: str  # of the body: the same extract gives the same tag in every process
    features: int


def encode_layer(layer: dict[str, Any]) -> EncodedLayer:
    body = json.dumps(layer, separators=(",", ":")).encode()
    return EncodedLayer(body, hashlib.sha256(body).hexdigest()[:32], len(layer["features"]))


class MapLayers:
    PRELOAD_ZOOMS = PRELOAD_ZOOMS

    def __init__(self, roads_path: str) -> None:
        self.roads_path = roads_path
        self._lock = threading.Lock()
        self._places_lock = threading.Lock()  # an address search does not wait for a road layer
        self._lines: RoadLines | None = None  # kept rather than the ways: a few MB, not tens
        self._roads: dict[int | str | None, EncodedLayer] = {}  # None: the whole layer; a level; labels
        self._places: PlaceIndex | None = None

    def roads(self, zoom: int | None = None) -> EncodedLayer:
        """The whole road layer (every way, its name, 5 decimals) without `zoom`; else the light
        layer of the level for that zoom (see routing.map_layer)."""
        key = None if zoom is None else level_of(zoom)
        with self._lock:
            if key not in self._roads:
                start = time.perf_counter()
                layer = road_geojson(self._ways()) if key is None else light_road_layer(self._road_lines(), key)
                self._roads[key] = encoded = encode_layer(layer)
                log.info(
                    "road layer %s built in %.2f s: %d bytes",
                    "whole" if key is None else f"for zoom {key}",
                    time.perf_counter() - start,
                    len(encoded.body),
                )
            return self._roads[key]

    def preload(self, zooms: tuple[int, ...] = PRELOAD_ZOOMS, places: bool = True) -> bool:
        """Build now the layers the consoles and crew phones ask for first (and the address
        index): a server's start, not its first map. False without an extract."""
        if not self.roads_path:
            return False
        for zoom in zooms:
            self.roads(zoom)
        if zooms:
            self.labels()
        if places:
            self.places()
        return True

    def labels(self) -> EncodedLayer:
        """Where the consoles' map writes street names (see routing.map_layer.street_labels)."""
        with self._lock:
            if "labels" not in self._roads:
                self._roads["labels"] = encode_layer(street_labels(self._ways()))
            return self._roads["labels"]

    def places(self) -> PlaceIndex:
        with self._places_lock:
            if self._places is None:
                self._places = PlaceIndex.from_extract(self.roads_path) if self.roads_path else PlaceIndex([])
            return self._places

    def _ways(self) -> Iterator[RawWay]:
        return read_ways(self.roads_path) if self.roads_path else iter(())

    def _road_lines(self) -> RoadLines:
        if self._lines is None:
            self._lines = RoadLines.from_ways(self._ways())
        return self._lines
