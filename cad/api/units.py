"""Units: where they are, what they do."""

from __future__ import annotations

from typing import Any

from cad import clock
from cad.api import api, render
from cad.api import schemas as s
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.errors import Forbidden
from cad.models import Role
from cad.services import dispatching
from dispatch.units import UnitStatus

STATUS_SETTERS = (Role.DISPATCHER, Role.CREW, Role.ADMIN)
#: Crews see their own unit only (`/units/<id>`, and in cad/api/crew.py): never the other units' jobs.
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
def list_units(user: Person, query: s.UnitFilter) -> list[dict[str, Any]]:
    units = dispatching.list_units(db.session, query.status, query.type)
    active = dispatching.active_assignments(db.session, [u.id for u in units])
    now = clock.now()
    return [render.unit(u, now, active[u.id].incident_id if u.id in active else None) for u in units]


@operation(api, "/units/<int:unit_id>", "GET", summary="One unit", response=s.UnitOut, errors=(404,))
def get_unit(user: Person, unit_id: int) -> dict[str, Any]:
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
def change_unit_status(user: Person, unit_id: int, body: s.UnitStatusChange) -> dict[str, Any]:
    unit = dispatching.set_unit_status(db.session, unit_id, UnitStatus(body.status), user, body.reason)
    active = dispatching.active_assignments(db.session, [unit.id])
    return render.unit(unit, clock.now(), active[unit.id].incident_id if unit.id in active else None)
