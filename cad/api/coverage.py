"""Coverage of the city by the available units, and move-up suggestions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app

from cad import clock
from cad.api import api
from cad.api import schemas as s
from cad.api.roads import loaded_router
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.errors import ApiError
from cad.models import Role
from cad.services.coverage import CoverageService
from dispatch.units import UnitType
from routing.coverage import parse_targets

VIEWERS = (Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


def targets(setting: str) -> Mapping[str, float]:
    try:
        return parse_targets(setting, [str(t) for t in UnitType])
    except ValueError as error:
        raise ApiError(f"WARROOM_COVERAGE_TARGETS: {error}", None, code="bad_setting", status=500) from None


def service() -> CoverageService:
    found: CoverageService = current_app.extensions.setdefault("warroom.coverage", CoverageService())
    return found


@operation(
    api,
    "/coverage",
    "GET",
    summary="Road length within the travel-time target of the available units, per type, and move-ups",
    roles=VIEWERS,
    query=s.CoverageQuery,
    response=s.CoverageOut,
    errors=(503,),
)
def coverage(user: Person, query: s.CoverageQuery) -> dict[str, Any]:
    settings = current_app.config["WARROOM"]
    return service().report(
        db.session,
        loaded_router(),
        now=clock.now(),
        stale_after_s=settings.position_stale_s,
        targets=targets(settings.coverage_targets),
        unit_type=query.type,
        suggestions=query.suggestions,
        layer=query.layer,
    )
