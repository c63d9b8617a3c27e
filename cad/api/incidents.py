"""Incidents, their recommendations and assignments."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, after_this_request, current_app

from cad.api import api, render
from cad.api import schemas as s
from cad.api.crew import tell_crew
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.domain.incidents import OPEN_STATUSES, IncidentStatus
from cad.models import Incident, Role
from cad.roads import travel_times
from cad.services import dispatching, incidents
from cad.services.calls import Fix
from routing import RoutingError

WRITERS = (Role.CALL_TAKER, Role.DISPATCHER, Role.ADMIN)
READERS = (Role.CALL_TAKER, Role.DISPATCHER, Role.MANAGER, Role.ADMIN)
DISPATCHERS = (Role.DISPATCHER, Role.ADMIN)

log = logging.getLogger(__name__)


@operation(
    api,
    "/incidents",
    "POST",
    summary="Create an incident",
    roles=WRITERS,
    body=s.IncidentCreate,
    response=s.IncidentOut,
    status=201,
    errors=(404, 409),
)
def create_incident(user: Person, body: s.IncidentCreate) -> dict[str, Any]:
    settings = current_app.config["WARROOM"]
    fix = None
    if body.location is not None:
        loc = body.location
        fix = Fix(loc.lat, loc.lon, loc.accuracy_m, loc.source)
    new = incidents.NewIncident(
        type=body.type,
        priority=body.priority,
        fix=fix,
        address=body.address,
        district=body.district,
        description=body.description,
        caller_phone=body.caller_phone,
        caller_name=body.caller_name,
        call_id=body.call_id,
    )
    incident = incidents.create_incident(db.session, new, user, prefix=settings.incident_prefix, tz=settings.timezone)
    _search_ahead(incident)
    return render.incident(incident)


@operation(
    api,
    "/incidents",
    "GET",
    summary="List incidents (most urgent first)",
    roles=READERS,
    query=s.IncidentFilter,
    response=list[s.IncidentOut],
)
def list_incidents(user: Person, query: s.IncidentFilter) -> list[dict[str, Any]]:
    return [render.incident(i) for i in incidents.list_incidents(db.session, query.status, query.limit)]


@operation(
    api,
    "/incidents/<int:incident_id>",
    "GET",
    summary="One incident with its timeline",
    roles=READERS,
    response=s.IncidentDetail,
    errors=(404,),
)
def get_incident(user: Person, incident_id: int) -> dict[str, Any]:
    incident = incidents.get_incident(db.session, incident_id)
    return render.incident(incident, incidents.timeline_of(db.session, incident))


@operation(
    api,
    "/incidents/<int:incident_id>",
    "PATCH",
    summary="Correct an incident: type, priority, location, address, description, caller",
    roles=WRITERS,
    body=s.IncidentEdit,
    response=s.IncidentOut,
    errors=(404, 409),
)
def edit_incident(user: Person, incident_id: int, body: s.IncidentEdit) -> dict[str, Any]:
    given = body.model_fields_set - {"version"}
    loc = body.location
    edit = incidents.IncidentEdit(
        given=frozenset(given),
        type=body.type,
        priority=body.priority,
        fix=Fix(loc.lat, loc.lon, loc.accuracy_m, loc.source) if loc is not None else None,
        address=body.address,
        district=body.district,
        description=body.description,
        caller_phone=body.caller_phone,
        caller_name=body.caller_name,
        version=body.version,
    )
    incident, _ = incidents.edit_incident(db.session, incident_id, edit, user)
    if given & {"location", "type", "priority"}:
        _search_ahead(incident)
    return render.incident(incident)


def _search_ahead(incident: Incident) -> None:
    """Once the answer is sent (the call-taker waits for nothing, not even for the road graph of a
    centre that loads it on first use), the road searches the incident's recommendation needs: one
    per unit type it ranks, kept in this process and in the field store every worker of the
    machine reads, so the dispatcher's first look, on whichever worker, ranks the units without
    searching (Porto Alegre: ~2.5 ms a search, 1-6 a request)."""
    network = current_app.extensions["warroom.roads"]
    if incident.lat is None or incident.lon is None or incident.status not in OPEN_STATUSES or not network.configured:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    target = (incident.lat, incident.lon)
    _, _, types = dispatching.ranked_types(
        str(incident.type), incident.priority, current_app.extensions["warroom.run_cards"]
    )
    profiles = [str(t) for t in types]
    number = incident.number

    def search() -> None:
        try:
            with app.app_context():  # the router catches up with the cameras' readings first
                router = network.router(db.session)
                if router is not None:
                    router.search_ahead(target, profiles)
        except (RoutingError, ValueError) as error:  # off the roads: the recommendation will say so
            log.info("no road searches ahead of incident %s: %s", number, error)
        except Exception:  # a search ahead only saves time: the recommendation searches itself
            log.exception("road searches ahead of incident %s's recommendation failed", number)

    @after_this_request
    def after_sending(response: Response) -> Response:
        response.call_on_close(search)
        return response


@operation(
    api,
    "/incidents/<int:incident_id>/merge",
    "POST",
    summary="Merge this duplicate into another open incident (its calls, units and timeline follow)",
    roles=DISPATCHERS,
    body=s.IncidentMerge,
    response=s.IncidentOut,
    errors=(404, 409),
)
def merge_incident(user: Person, incident_id: int, body: s.IncidentMerge) -> dict[str, Any]:
    return render.incident(incidents.merge_incident(db.session, incident_id, body.into, user))


@operation(
    api,
    "/incidents/<int:incident_id>/status",
    "POST",
    summary="Close or cancel an incident",
    roles=DISPATCHERS,
    body=s.IncidentStatusChange,
    response=s.IncidentOut,
    errors=(404, 409),
)
def change_incident_status(user: Person, incident_id: int, body: s.IncidentStatusChange) -> dict[str, Any]:
    incident = incidents.finish_incident(
        db.session,
        incident_id,
        IncidentStatus(body.status),
        body.reason,
        user,
        disposition=body.disposition,
        release_units=body.release_units,
    )
    return render.incident(incident)


@operation(
    api,
    "/incidents/<int:incident_id>/recommendations",
    "GET",
    summary="Capable available units ranked by travel time (the best 5 unless `limit` says otherwise)",
    roles=(Role.CALL_TAKER, *DISPATCHERS),
    query=s.RecommendationQuery,
    response=s.RecommendationList,
    errors=(404, 409),
)
def recommendations(user: Person, incident_id: int, query: s.RecommendationQuery) -> Response:
    settings = current_app.config["WARROOM"]
    estimator = travel_times(current_app.extensions["warroom.roads"], db.session)
    r = dispatching.recommend(
        db.session,
        incident_id,
        estimator,
        stale_after_s=settings.position_stale_s,
        limit=query.limit,
        run_cards=current_app.extensions["warroom.run_cards"],
    )
    # Sent as the operation would after validating against RecommendationList (same keys and
    # values, the same JSON provider), without that pass: every value here is already a plain
    # JSON type (tests/integration/test_recommend_all_units.py checks the body against the schema).
    recommendation = render.recommendation
    body = {
        "incident_id": r.incident.id,
        "unit_types": [str(t) for t in r.unit_types],
        "recommendations": [recommendation(u) for u in r.ranked],
        "total": r.total,
        "run_card": {
            "name": r.card,
            "slots": [
                {
                    "role": p.slot.role,
                    "unit_types": [str(t) for t in p.slot.unit_types],
                    "count": p.slot.count,
                    "candidates": [recommendation(u) for u in p.candidates],
                    "proposed": list(p.proposed),
                }
                for p in r.slots
            ],
            "complete": all(len(p.proposed) == p.slot.count for p in r.slots),
        },
    }
    return current_app.json.response(body)


@operation(
    api,
    "/incidents/<int:incident_id>/assignments",
    "POST",
    summary="Send a unit",
    roles=DISPATCHERS,
    body=s.AssignmentCreate,
    response=s.AssignmentOut,
    status=201,
    errors=(404, 409),
)
def assign(user: Person, incident_id: int, body: s.AssignmentCreate) -> dict[str, Any]:
    assignment = dispatching.assign_unit(db.session, incident_id, body.unit_id, user, preempt=body.preempt)
    tell_crew(assignment.id)
    return render.assignment(assignment)


@operation(
    api,
    "/incidents/<int:incident_id>/assignments/<int:unit_id>/release",
    "POST",
    summary="Take a unit back from the incident (it becomes available; the crew sees it at once)",
    roles=DISPATCHERS,
    body=s.UnitRelease,
    response=s.IncidentOut,
    errors=(404, 409),
)
def release(user: Person, incident_id: int, unit_id: int, body: s.UnitRelease) -> dict[str, Any]:
    incident = dispatching.release_unit(
        db.session, incident_id, unit_id, body.reason, user, to_station=body.return_to_station
    )
    return render.incident(incident)


@operation(
    api,
    "/incidents/<int:incident_id>/preemptable",
    "GET",
    summary="Capable units on their way to a less urgent incident, by arrival time here",
    roles=DISPATCHERS,
    response=list[s.PreemptableOut],
    errors=(404, 409),
)
def preemptable(user: Person, incident_id: int) -> list[dict[str, Any]]:
    settings = current_app.config["WARROOM"]
    estimator = travel_times(current_app.extensions["warroom.roads"], db.session)
    found = dispatching.preemptable_units(db.session, incident_id, estimator, stale_after_s=settings.position_stale_s)
    return [
        {
            **vars(p.ranked),
            "status": p.status,
            "incident_id": p.incident_id,
            "incident_number": p.incident_number,
            "incident_priority": p.incident_priority,
        }
        for p in found
    ]


@operation(
    api,
    "/incidents/<int:incident_id>/dispatch",
    "POST",
    summary="Send several units in one action (a run card): all of them, or none and a 409",
    roles=DISPATCHERS,
    body=s.DispatchCreate,
    response=s.DispatchOut,
    status=201,
    errors=(404, 409),
)
def dispatch_units(user: Person, incident_id: int, body: s.DispatchCreate) -> dict[str, Any]:
    assignments = dispatching.assign_units(db.session, incident_id, body.unit_ids, user)
    for assignment in assignments:
        tell_crew(assignment.id)
    return {"assignments": [render.assignment(a) for a in assignments]}
