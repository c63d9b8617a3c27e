"""The crew's API and the wiring of its notify service (`cad.services.notify`): the crew's own job,
declining it, its route; and what the other adapters call after an assignment or new congestion
(`tell_crew`, `give_route`, `reroute_moving_units`), with the session, SMS sender, timers and
router of this app handed to the service."""

from __future__ import annotations

from typing import Any

from flask import current_app, request

from cad import clock
from cad.api import api, render
from cad.api import schemas as s
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.errors import Forbidden, InvalidInput, NotFound
from cad.models import Assignment, Role
from cad.roads import travel_times
from cad.services import dispatching, notify
from dispatch.units import DeclineReason

STATUS_SETTERS = (Role.DISPATCHER, Role.CREW, Role.ADMIN)


class CrewJob(s.Reply):
    unit: s.UnitOut
    assignment: s.AssignmentOut | None
    incident: s.IncidentOut | None


def _router() -> Any:
    return current_app.extensions["warroom.roads"].router(db.session)


def tell_crew(assignment_id: int) -> None:
    """After an assignment commits: tell its crew (see `notify.tell_crew`)."""
    settings = current_app.config["WARROOM"]
    notify.tell_crew(
        db.session,
        assignment_id,
        settings=settings,
        sms=current_app.extensions["warroom.sms"],
        link_base=settings.public_url or request.host_url,
        timers=current_app.extensions["warroom.timers"],
        router=_router,
    )


def give_route(assignment: Assignment, reason: str) -> dict[str, Any] | None:
    return notify.give_route(db.session, assignment, reason, _router(), current_app.config["WARROOM"].position_stale_s)


def reroute_moving_units(reason: str) -> int:
    return notify.reroute_moving_units(db.session, reason, _router(), current_app.config["WARROOM"].position_stale_s)


@operation(
    api,
    "/crew/job",
    "GET",
    summary="A unit's current job (crews: only their own unit)",
    roles=(Role.CREW, Role.DISPATCHER, Role.ADMIN),
    query=s.CrewJobQuery,
    response=CrewJob,
    errors=(404,),
)
def crew_job(user: Person, query: s.CrewJobQuery) -> dict[str, Any]:
    if user.role is Role.CREW:
        if user.unit_id is None:
            raise Forbidden("this crew account rides no unit", "unit_id")
        if query.unit_id is not None and query.unit_id != user.unit_id:
            raise Forbidden("a crew member sees only their own unit's job", "unit_id")
        unit_id = user.unit_id
    elif query.unit_id is None:
        raise InvalidInput("unit_id is required", "unit_id")
    else:
        unit_id = query.unit_id
    unit = dispatching.get_unit(db.session, unit_id)
    assignment = notify.active_assignment_of(db.session, unit.id)
    return {
        "unit": render.unit(unit, clock.now(), assignment.incident_id if assignment else None),
        "assignment": render.assignment(assignment) if assignment else None,
        "incident": render.incident(assignment.incident) if assignment else None,
    }


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
def decline(user: Person, unit_id: int, body: s.Decline) -> dict[str, Any]:
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
def unit_route(user: Person, unit_id: int) -> dict[str, Any]:
    unit = dispatching.get_unit(db.session, unit_id)
    if user.role is Role.CREW and user.unit_id != unit.id:
        raise Forbidden("a crew member sees only their own unit's route", "unit_id")
    assignment = notify.active_assignment_of(db.session, unit.id)
    if assignment is None:
        raise NotFound(f"unit {unit.callsign} has no active assignment", "unit_id")
    route = give_route(assignment, "asked")
    if route is None:
        raise NotFound("no road route: no road network, no position, or no road path", "unit_id")
    return route
