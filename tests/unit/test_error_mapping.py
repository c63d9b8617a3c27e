"""The domain's named errors become the HTTP statuses and codes clients and the OpenAPI spec know."""

import pytest

from cad.domain.calls import CallState, IllegalCallTransition
from cad.domain.errors import (
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    InvalidInput,
    Misconfigured,
    NotFound,
    Unauthorized,
    UnitUnavailable,
)
from cad.errors import http_of
from dispatch.units import IllegalUnitTransition, UnitStatus


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidInput("bad", "x"), 400, "invalid"),
        (Unauthorized("who?", "token"), 401, "unauthorized"),
        (Forbidden("not yours", "unit_id"), 403, "forbidden"),
        (NotFound("none", "id"), 404, "not_found"),
        (Conflict("moved on", "status"), 409, "conflict"),
        (UnitUnavailable("taken", "unit_id"), 409, "unit_unavailable"),
        (Misconfigured("targets file broken"), 500, "misconfigured"),
        (DatabaseUnavailable("gone"), 503, "database_unavailable"),
    ],
)
def test_each_domain_error_has_its_status_and_code(error: Exception, status: int, code: str) -> None:
    assert http_of(error)[:2] == (status, code)
    assert http_of(error)[2] == str(error)


def test_a_finer_reason_code_wins_and_the_field_is_kept() -> None:
    assert http_of(InvalidInput("off the map", "from", code="outside_road_network")) == (
        400,
        "outside_road_network",
        "off the map",
        "from",
    )


def test_the_pure_packages_errors_name_their_field() -> None:
    moved = IllegalUnitTransition(UnitStatus.AVAILABLE, UnitStatus.ON_SCENE)
    assert http_of(moved) == (409, "illegal_transition", str(moved), "status")
    assert http_of(IllegalCallTransition(CallState.ENDED, CallState.ANSWERED))[3] == "state"


def test_anything_unnamed_is_a_500_that_tells_nothing() -> None:
    assert http_of(KeyError("secret"))[:3] == (500, "internal_error", "internal error; it has been logged")
