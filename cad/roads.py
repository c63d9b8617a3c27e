"""The process's road network: one router, loaded once from the configured extract (through
its cache), kept in step with the cameras and congestion readings stored in the database.

Every web worker, the scheduler and the simulator hold their own router; the database is
where readings meet, so each of them catches up with new rows (two indexed queries) before
it routes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

import routing
from cad.models import Camera, CongestionReading
from dispatch.recommend import GeodesicTravelTimes, TravelTimes
from dispatch.road_times import RoadTravelTimes
from routing import CongestionModel, OutsideRoadNetwork, Router, RoutingError

log = logging.getLogger(__name__)


class RoadNetwork:
    def __init__(self, roads_path: str, cache_dir: Path, clock: Callable[[], datetime], ttl_s: float) -> None:
        self.roads_path = roads_path
        self.cache_dir = cache_dir
        self.clock = clock
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._router: Router | None = None
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

    def preload(self) -> bool:
        """Load the graph and prepare every vehicle profile now (a server's start), so the first
        recommendation does not wait for them. False without an extract."""
        if not self.roads_path:
            return False
        with self._lock:
            if self._router is None:
                self._router = self._load()
            router = self._router
        router.prepare()
        return True

    def _load(self) -> Router:
        graph = routing.load_graph(self.roads_path, cache_dir=self.cache_dir)
        congestion = CongestionModel(graph, ttl_s=self.ttl_s, clock=self.clock)
        log.info("road network loaded from %s", self.roads_path)
        return Router(graph, congestion=congestion, clock=self.clock)

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
