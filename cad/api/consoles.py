"""The crew's own job (the consoles' other endpoints have their own modules: map, linking, audit)."""

from __future__ import annotations

from typing import Any

from cad import clock
from cad.api import api, render
from cad.api import schemas as s
from cad.api.spec import operation
from cad.db import db
from cad.errors import Forbidden, InvalidInput
from cad.models import Role, User
from cad.services import dispatching
from cad.services.notify import active_assignment_of


class CrewJob(s.Reply):
    unit: s.UnitOut
    assignment: s.AssignmentOut | None
    incident: s.IncidentOut | None


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
def crew_job(user: User, query: s.CrewJobQuery) -> dict[str, Any]:
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
    assignment = active_assignment_of(db.session, unit.id)
    return {
        "unit": render.unit(unit, clock.now(), assignment.incident_id if assignment else None),
        "assignment": render.assignment(assignment) if assignment else None,
        "incident": render.incident(assignment.incident) if assignment else None,
    }
