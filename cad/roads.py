"""The process's roads: one object per process that loads the configured extract once and keeps
what is built from it — the router (kept in step with the cameras and congestion readings
stored in the database) and the consoles' map (road layers, street labels, address index).

The graph loads from its cache in milliseconds; the map data come from one read of the extract
(routing.extract), which also builds the graph when its cache is missing. Every web worker, the
scheduler and the simulator hold their own; the database is where readings meet, so each of them
catches up with new rows (two indexed queries) before it routes.

A road layer is kept as the bytes sent and their ETag, so a request costs a lookup (and a reload
with the ETag a 304). Porto Alegre reads in a few seconds; then a level builds in under 0.5 s.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cad.models import Camera, CongestionReading
from dispatch.recommend import GeodesicTravelTimes, TravelTimes
from dispatch.road_times import RoadTravelTimes
from routing import CongestionModel, OutsideRoadNetwork, RoadGraph, Router, RoutingError
from routing.extract import MapData, read_extract
from routing.field_store import FieldStore
from routing.map_layer import RoadLines, level_of, light_road_layer
from routing.osm import read_ways
from routing.places import PlaceIndex, road_geojson
from routing.store import cached_graph

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


@dataclass(frozen=True)
class _Map:
    """What is kept of the extract's map data: the lines (a few MB), the labels as sent, the index."""

    lines: RoadLines
    labels: EncodedLayer
    places: PlaceIndex

    @classmethod
    def of(cls, data: MapData) -> _Map:
        return cls(data.lines, encode_layer(data.labels), data.places)


#: Without an extract: no roads, no labels, no places.
_NO_MAP = _Map(RoadLines({}, 0.0), encode_layer({"type": "FeatureCollection", "features": []}), PlaceIndex([]))


def _trim_heap() -> None:
    """Give the C heap freed by a read of the extract (its ways, tens of MB for a city) back to the
    system: glibc keeps it otherwise, and each worker's RSS carries it for its life."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim with
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class RoadNetwork:
    PRELOAD_ZOOMS = PRELOAD_ZOOMS

    def __init__(self, roads_path: str, cache_dir: Path, clock: Callable[[], datetime], ttl_s: float) -> None:
        self.roads_path = roads_path
        self.cache_dir = cache_dir
        self.clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()  # the router and its catching up
        self._extract_lock = threading.Lock()  # one read of the extract at a time; routing does not wait for it
        self._layers_lock = threading.Lock()
        self._router: Router | None = None
        self._map: _Map | None = None
        self._layers: dict[int | None, EncodedLayer] = {}  # None: the whole layer; else a level
        self._camera_id = 0
        self._reading_id = 0
        self._caught_up_at = 0.0
        self.catch_up_every_s = 1.0  # new cameras and readings reach this process within a second
        self.unmapped: dict[str, str] = {}  # camera code → why it watches no road

    @property
    def configured(self) -> bool:
        return bool(self.roads_path)

    def router(self, session: Session) -> Router | None:
        """The router with every camera and reading up to now, or None without an extract."""
        if not self.roads_path:
            return None
        with self._lock:
            if self._router is None:
                self._router = self._load()
            if time.monotonic() - self._caught_up_at >= self.catch_up_every_s:
                self._catch_up(session, self._router)
                self._caught_up_at = time.monotonic()
            return self._router

    def preload(self, roads: bool = True, zooms: tuple[int, ...] = PRELOAD_ZOOMS, places: bool = True) -> bool:
        """Build now what a server's first requests need, so they wait for nothing: the graph and
        every vehicle profile (`roads`), the road layers of `zooms` with the street labels, the
        address index (`places`). False without an extract."""
        if not self.roads_path:
            return False
        if roads:
            with self._lock:
                if self._router is None:
                    self._router = self._load()
                router = self._router
            router.prepare()
        for zoom in zooms:
            self.road_layer(zoom)
        if zooms:
            self.labels()
        if places:
            self.places()
        return True

    def _load(self) -> Router:
        graph = self._graph()
        congestion = CongestionModel(graph, ttl_s=self.ttl_s, clock=self.clock)
        log.info("road network loaded from %s", self.roads_path)
        # the searches every process of this machine shares (routing.field_store)
        return Router(graph, congestion=congestion, clock=self.clock, field_store=FieldStore(self.cache_dir / "fields"))

    def _graph(self) -> RoadGraph:
        """The graph from its cache; else built, and its cache written, in the read of the extract
        that builds the map data too."""
        graph, cache = cached_graph(self.roads_path, cache_dir=self.cache_dir)
        if graph is not None:
            return graph
        with self._extract_lock:
            extract = read_extract(self.roads_path, graph=True)
            if self._map is None:
                self._map = _Map.of(extract.map)
            _trim_heap()
        assert extract.graph is not None
        if cache is not None:
            extract.graph.save(cache)
        return extract.graph

    def _map_data(self) -> _Map:
        with self._extract_lock:
            if self._map is None:
                self._map = _Map.of(read_extract(self.roads_path).map) if self.roads_path else _NO_MAP
                _trim_heap()
            return self._map

    def road_layer(self, zoom: int | None = None) -> EncodedLayer:
        """The light layer of the level for `zoom` (see routing.map_layer); without `zoom` the whole
        layer (every way, its name, 5 decimals), which only API clients ask for: built on demand
        from a read of its own, kept once built."""
        key = None if zoom is None else level_of(zoom)
        with self._layers_lock:
            if key not in self._layers:
                start = time.perf_counter()
                if key is None:
                    layer = road_geojson(read_ways(self.roads_path) if self.roads_path else ())
                else:
                    layer = light_road_layer(self._map_data().lines, key)
                self._layers[key] = encoded = encode_layer(layer)
                log.info(
                    "road layer %s built in %.2f s: %d bytes",
                    "whole" if key is None else f"for zoom {key}",
                    time.perf_counter() - start,
                    len(encoded.body),
                )
            return self._layers[key]

    def labels(self) -> EncodedLayer:
        """Where the consoles' map writes street names (see routing.map_layer.street_labels)."""
        return self._map_data().labels

    def places(self) -> PlaceIndex:
        """The address index of the extract (empty without one)."""
        return self._map_data().places

    def catch_up_now(self, session: Session) -> None:
        """Apply what was just stored (a reading this process received) without waiting."""
        self._caught_up_at = 0.0
        self.router(session)

    def _catch_up(self, session: Session, router: Router) -> None:
        for camera in session.scalars(select(Camera).where(Camera.id > self._camera_id).order_by(Camera.id)):
            try:
                router.congestion.map_camera(
                    camera.code, camera.lat, camera.lon, radius_m=camera.radius_m, heading_deg=camera.heading_deg
                )
            except (OutsideRoadNetwork, ValueError) as error:
                self.unmapped[camera.code] = str(error)
                log.warning("camera %s watches no road of the extract: %s", camera.code, error)
            self._camera_id = camera.id
        now = self.clock()
        rows = session.execute(
            select(CongestionReading.id, Camera.code, CongestionReading.level, CongestionReading.observed_at)
            .join(Camera)
            .where(CongestionReading.id > self._reading_id, CongestionReading.expires_at > now)
            .order_by(CongestionReading.id)
        ).all()
        for reading_id, code, level, observed_at in rows:
            if code not in self.unmapped:
                router.congestion.apply_reading(code, level, observed_at)
            self._reading_id = reading_id


def travel_times(network: RoadNetwork, session: Session) -> TravelTimes:
    """Road travel times when an extract is configured, else the straight-line estimate."""
    router = network.router(session)
    return RoadTravelTimes(router) if router is not None else GeodesicTravelTimes()


def route_for_unit(
    router: Router | None, unit_type: str, origin: tuple[float, float] | None, destination: tuple[float, float] | None
) -> dict[str, object] | None:
    """The crew's route as JSON, or None when there is no road network, position or road path."""
    if router is None or origin is None or destination is None:
        return None
    try:
        return router.route(origin, destination, unit_type).as_dict()  # type: ignore[no-any-return]
    except (RoutingError, ValueError) as error:
        log.info("no route for a %s from %s to %s: %s", unit_type, origin, destination, error)
        return None
