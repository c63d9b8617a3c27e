"""A second call about the same emergency: the open incidents near a call, and linking the call to one."""

from __future__ import annotations

from typing import Any

from flask import current_app
from pydantic import Field

from cad import clock
from cad.api import api, render
from cad.api import schemas as s
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.domain.incidents import IncidentType
from cad.models import Role
from cad.services import linking
from cad.services.calls import get_call

TAKERS = (Role.CALL_TAKER, Role.DISPATCHER, Role.ADMIN)


class NearbyQuery(s.Query):
    type: IncidentType | None = Field(default=None, description="only incidents of this type")


class NearbyOut(s.IncidentOut):
    distance_m: float
    minutes_ago: float


class LinkIn(s.Request):
    incident_id: s.RowId


@operation(
    api,
    "/calls/<int:call_id>/nearby",
    "GET",
    summary="Open incidents near this call's location and recent, of any type (`type` first): where it may belong",
    roles=TAKERS,
    query=NearbyQuery,
    response=list[NearbyOut],
    errors=(404,),
)
def nearby(user: Person, call_id: int, query: NearbyQuery) -> list[dict[str, Any]]:
    settings = current_app.config["WARROOM"]
    call = get_call(db.session, call_id)
    if call.lat is None or call.lon is None:
        return []
    found = linking.nearby_incidents(
        db.session,
        call.lat,
        call.lon,
        clock.now(),
        incident_type=query.type,
        radius_m=settings.link_radius_m,
        window_s=settings.link_window_s,
    )
    return [{**render.incident(n.incident), "distance_m": n.distance_m, "minutes_ago": n.minutes_ago} for n in found]


@operation(
    api,
    "/calls/<int:call_id>/link",
    "POST",
    summary="Link the call to an existing open incident (a second call about the same emergency)",
    roles=TAKERS,
    body=LinkIn,
    response=s.CallOut,
    errors=(404, 409),
)
def link(user: Person, call_id: int, body: LinkIn) -> dict[str, Any]:
    call = linking.link_call(db.session, call_id, body.incident_id, user)
    return render.call(call, None)
