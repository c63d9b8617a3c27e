"""Units: where they are, what they do."""

from __future__ import annotations

from typing import Any

from flask import current_app

from cad import clock
from cad.api import api, render
from cad.api import schemas as s
from cad.api.spec import operation
from cad.crew import give_route
from cad.db import db
from cad.errors import Forbidden, NotFound
from cad.models import Role, User
from cad.roads import travel_times
from cad.services import dispatching
from cad.services.notify import active_assignment_of
from dispatch.units import DeclineReason, UnitStatus

STATUS_SETTERS = (Role.DISPATCHER, Role.CREW, Role.ADMIN)
#: Crews see their own unit only (`/units/<id>`, `/crew/job`): never the other units' jobs.
FLEET_VIEWERS = (Role.CALL_TAKER, Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


@operation(
    api,
    "/units",
    "GET",
    summary="All units with status and live position",
    roles=FLEET_VIEWERS,
    query=s.UnitFilter,
    response=list[s.UnitOut],
)
def list_units(user: User, query: s.UnitFilter) -> list[dict[str, Any]]:
    units = dispatching.list_units(db.session, query.status, query.type)
    active = dispatching.active_assignments(db.session, [u.id for u in units])
    now = clock.now()
    return [render.unit(u, now, active[u.id].incident_id if u.id in active else None) for u in units]


@operation(api, "/units/<int:unit_id>", "GET", summary="One unit", response=s.UnitOut, errors=(404,))
def get_unit(user: User, unit_id: int) -> dict[str, Any]:
    if user.role is Role.CREW and user.unit_id != unit_id:
        raise Forbidden("a crew member sees only their own unit", "unit_id")
    unit = dispatching.get_unit(db.session, unit_id)
    active = dispatching.active_assignments(db.session, [unit.id])
    return render.unit(unit, clock.now(), active[unit.id].incident_id if unit.id in active else None)


@operation(
    api,
    "/units/<int:unit_id>/status",
    "POST",
    summary="Change a unit's status",
    roles=STATUS_SETTERS,
    body=s.UnitStatusChange,
    response=s.UnitOut,
    errors=(404, 409),
)
def change_unit_status(user: User, unit_id: int, body: s.UnitStatusChange) -> dict[str, Any]:
    unit = dispatching.set_unit_status(db.session, unit_id, UnitStatus(body.status), user, body.reason)
    active = dispatching.active_assignments(db.session, [unit.id])
    return render.unit(unit, clock.now(), active[unit.id].incident_id if unit.id in active else None)


@operation(
    api,
    "/units/<int:unit_id>/decline",
    "POST",
    summary="The crew cannot take its job (tidak bisa): the unit leaves it, dispatchers are alerted",
    roles=STATUS_SETTERS,
    body=s.Decline,
    response=s.DeclineOut,
    errors=(404, 409),
)
def decline(user: User, unit_id: int, body: s.Decline) -> dict[str, Any]:
    settings = current_app.config["WARROOM"]
    estimator = travel_times(current_app.extensions["warroom.roads"], db.session)
    return dispatching.decline_assignment(
        db.session,
        unit_id,
        DeclineReason(body.reason),
        body.note,
        user,
        estimator,
        stale_after_s=settings.position_stale_s,
    )


@operation(
    api,
    "/units/<int:unit_id>/route",
    "GET",
    summary="The unit's route to its incident (crews: their own)",
    roles=(Role.DISPATCHER, Role.CREW, Role.ADMIN, Role.CALL_TAKER),
    response=s.RouteOut,
    errors=(404,),
)
def unit_route(user: User, unit_id: int) -> dict[str, Any]:
    unit = dispatching.get_unit(db.session, unit_id)
    if user.role is Role.CREW and user.unit_id != unit.id:
        raise Forbidden("a crew member sees only their own unit's route", "unit_id")
    assignment = active_assignment_of(db.session, unit.id)
    if assignment is None:
        raise NotFound(f"unit {unit.callsign} has no active assignment", "unit_id")
    route = give_route(assignment, "asked")
    if route is None:
        raise NotFound("no road route: no road network, no position, or no road path", "unit_id")
    return route
