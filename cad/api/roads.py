"""Routes on the road network, and the cameras that watch it."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import current_app
from sqlalchemy import select

from cad import clock
from cad.api import api
from cad.api import schemas as s
from cad.api.crew import reroute_moving_units
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.errors import ApiError, InvalidInput
from cad.models import Camera, CongestionReading, Role
from cad.roads import RoadNetwork
from cad.services.congestion import latest_readings, record_reading
from routing import NoRoute, OutsideRoadNetwork, Router, RoutingError

CAMERA_FEEDS = (Role.DISPATCHER, Role.ADMIN)


def _point(value: str, name: str) -> tuple[float, float]:
    lat_text, _, lon_text = value.partition(",")
    lat, lon = float(lat_text), float(lon_text)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidInput(f"{name}: latitude must be within ±90 and longitude within ±180", name)
    return lat, lon


def loaded_router() -> Router:
    """The process's router, caught up; 503 when no extract is configured."""
    router: Router | None = current_app.extensions["warroom.roads"].router(db.session)
    if router is None:
        raise ApiError(
            "no road network is loaded: set WARROOM_ROADS to an OSM extract", None, code="no_road_network", status=503
        )
    return router


@operation(
    api,
    "/route",
    "GET",
    summary="A route by road around the congestion the cameras see",
    query=s.RouteQuery,
    response=s.RouteOut,
    errors=(404, 503),
)
def route(user: Person, query: s.RouteQuery) -> dict[str, Any]:
    origin, destination = _point(query.from_, "from"), _point(query.to, "to")
    router = loaded_router()
    try:
        return router.route(origin, destination, str(query.profile)).as_dict()
    except OutsideRoadNetwork as error:
        field = "from" if str(error).startswith("origin") else "to"
        raise InvalidInput(f"{field}: {error}", field, code="outside_road_network") from None
    except NoRoute as error:
        raise ApiError(str(error), "to", code="no_route", status=404) from None


def _camera(camera: Camera, reading: CongestionReading | None, network: RoadNetwork) -> dict[str, Any]:
    return {
        "id": camera.id,
        "code": camera.code,
        "name": camera.name,
        "lat": camera.lat,
        "lon": camera.lon,
        "heading_deg": camera.heading_deg,
        "radius_m": camera.radius_m,
        "district": camera.district,
        "level": reading.level if reading else "free",
        "observed_at": reading.observed_at if reading else None,
        "expires_at": reading.expires_at if reading else None,
        "watches_road": (camera.code not in network.unmapped) if network.configured else None,
    }


@operation(api, "/cameras", "GET", summary="Cameras with their live congestion level", response=list[s.CameraOut])
def list_cameras(user: Person) -> list[dict[str, Any]]:
    network = current_app.extensions["warroom.roads"]
    latest = latest_readings(db.session, clock.now())
    if network.configured:
        network.catch_up_now(db.session)  # maps new cameras, so `watches_road` is known
    return [_camera(c, latest.get(c.id), network) for c in db.session.scalars(select(Camera).order_by(Camera.code))]


@operation(
    api,
    "/cameras/<code>/congestion",
    "POST",
    summary="A camera's congestion reading",
    roles=CAMERA_FEEDS,
    body=s.CongestionIn,
    response=s.CameraOut,
    status=201,
    errors=(404,),
)
def post_congestion(user: Person, code: str, body: s.CongestionIn) -> dict[str, Any]:
    settings = current_app.config["WARROOM"]
    reading = record_reading(db.session, code, body.level, body.observed_at, settings.congestion_ttl_s)
    network = current_app.extensions["warroom.roads"]
    if network.configured:
        with contextlib.suppress(RoutingError):  # a camera that watches no road: stored, listed, not routed on
            network.catch_up_now(db.session)  # applies the new row now, not at the next route
        reroute_moving_units(f"congestion at {code}")
    return _camera(reading.camera, reading, network)
