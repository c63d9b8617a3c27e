"""The consoles' map of the loaded extract: the road layers, the street labels and the address search."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, request
from pydantic import Field

from cad.api import api
from cad.api import schemas as s
from cad.api.spec import operation
from cad.compression import keep_compressed
from cad.domain.actors import Person
from cad.geocoder import NominatimSearch, search_places
from cad.models import Role
from cad.roads import RoadNetwork

log = logging.getLogger(__name__)

TAKERS = (Role.CALL_TAKER, Role.DISPATCHER, Role.ADMIN)


class PlaceQuery(s.Query):
    q: str = Field(min_length=1, max_length=100, description="words of a street or place name")
    limit: int = Field(default=10, ge=1, le=50)


class PlaceLabel(s.Reply):
    id: str = Field(description="in Indonesian: jalan, sekolah, masjid, puskesmas/klinik, simpang, …")
    en: str = Field(description="in English: street, school, mosque, clinic, junction, …")


class PlaceOut(s.Reply):
    name: str
    kind: str = Field(description="street, place (a named school, mosque, market, bus stop, …), address or junction")
    lat: float
    lon: float
    category: str = Field(description="what it is: the kind, or for a place school, market, mosque, clinic, …")
    label: PlaceLabel = Field(description="what it is, to show beside the name (says when a house number is not known)")
    housenumber: str | None = Field(description="the house number asked for (an address, or a street without it)")
    number_known: bool | None = Field(
        description="false: the extract lacks that house number, the point is the street's; null: no number asked"
    )
    streets: list[str] = Field(description="a junction's two streets, an address's street")


class RoadsQuery(s.Query):
    zoom: int | None = Field(
        default=None,
        ge=0,
        le=22,
        description=(
            "the map's zoom: a light layer for it (lines simplified to half a pixel, minor roads left out "
            "below zoom 13/15, one MultiLineString per road class with `highway` and `major`, no names); "
            "without it, every way as its own LineString with `name` and `major`"
        ),
    )


def _roads() -> RoadNetwork:
    return current_app.extensions["warroom.roads"]


@operation(
    api,
    "/roads/geojson",
    "GET",
    summary="The loaded extract's roads as GeoJSON, for the consoles' map (ETag: a reload is a 304)",
    query=RoadsQuery,
)
def roads_geojson(user: Person, query: RoadsQuery) -> Response:
    layer = _roads().road_layer(query.zoom)
    response = Response(layer.body, mimetype="application/json" if query.zoom is None else "application/geo+json")
    # weak: the same roads whichever encoding carries them, so a compressed copy revalidates too
    response.set_etag(layer.etag, weak=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    keep_compressed(f"roads:{layer.etag}")  # the same bytes for everyone: compressed once
    return response.make_conditional(request)


@operation(
    api,
    "/roads/labels",
    "GET",
    summary="Street names for the consoles' map: points along the named roads, with the road's bearing",
)
def road_labels(user: Person) -> Response:
    layer = _roads().labels()
    response = Response(layer.body, mimetype="application/geo+json")
    response.set_etag(layer.etag, weak=True)
    response.headers["Cache-Control"] = "private, max-age=3600"
    keep_compressed(f"labels:{layer.etag}")
    return response.make_conditional(request)


@operation(
    api,
    "/places",
    "GET",
    summary=(
        "Address search: streets, named places (schools, markets, mosques, puskesmas, …), house numbers "
        '("Jalan Sudirman 12") and junctions ("Sudirman / Ahmad Yani") of the loaded extract'
    ),
    roles=TAKERS,
    query=PlaceQuery,
    response=list[PlaceOut],
)
def places(user: Person, query: PlaceQuery) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "kind": p.kind,
            "lat": p.lat,
            "lon": p.lon,
            "category": p.category or p.kind,
            "label": p.label,
            "housenumber": p.housenumber or None,
            "number_known": p.number_known,
            "streets": list(p.streets),
        }
        for p in search_places(query.q, query.limit, _roads().places(), _geocoder())
    ]


def _geocoder() -> NominatimSearch | None:
    """The deployment's geocoder, one per app; None without WARROOM_GEOCODER_URL."""
    url = current_app.config["WARROOM"].geocoder_url
    if not url:
        return None
    geocoder: NominatimSearch | None = current_app.extensions.get("warroom.geocoder")
    if geocoder is None or geocoder.url != url:
        try:
            geocoder = current_app.extensions["warroom.geocoder"] = NominatimSearch(url)
        except ValueError as exc:  # a bad setting costs the geocoder, never the search
            log.error("%s: address search uses the extract only", exc)
            return None
    return geocoder
