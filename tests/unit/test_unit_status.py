"""Every legal and every illegal move of the unit status machine."""

import itertools

import pytest

from dispatch.units import (
    COMMITTED,
    UNIT_TRANSITIONS,
    IllegalUnitTransition,
    UnitStatus,
    change_unit_status,
    parse_unit_status,
    preemption_refused,
)

S = UnitStatus
LEGAL = {
    (S.AVAILABLE, S.ASSIGNED),
    (S.AVAILABLE, S.OUT_OF_SERVICE),
    (S.ASSIGNED, S.ACKNOWLEDGED),
    (S.ASSIGNED, S.EN_ROUTE),
    (S.ASSIGNED, S.AVAILABLE),
    (S.ACKNOWLEDGED, S.EN_ROUTE),
    (S.ACKNOWLEDGED, S.AVAILABLE),
    (S.EN_ROUTE, S.ON_SCENE),
    (S.EN_ROUTE, S.AVAILABLE),
    (S.ON_SCENE, S.TRANSPORTING),
    (S.ON_SCENE, S.AVAILABLE),
    (S.TRANSPORTING, S.AT_HOSPITAL),
    (S.TRANSPORTING, S.AVAILABLE),
    (S.AT_HOSPITAL, S.AVAILABLE),
    (S.OUT_OF_SERVICE, S.AVAILABLE),
}
ALL_PAIRS = list(itertools.product(UnitStatus, UnitStatus))


@pytest.mark.parametrize(("current", "requested"), sorted(LEGAL))
def test_legal_move_gives_the_requested_status(current: UnitStatus, requested: UnitStatus) -> None:
    assert change_unit_status(current, requested) is requested


@pytest.mark.parametrize(("current", "requested"), [p for p in ALL_PAIRS if p not in LEGAL])
def test_illegal_move_is_refused_with_what_is_allowed(current: UnitStatus, requested: UnitStatus) -> None:
    with pytest.raises(IllegalUnitTransition) as caught:
        change_unit_status(current, requested)
    message = str(caught.value)
    assert str(current) in message and str(requested) in message
    for allowed in UNIT_TRANSITIONS[current]:
        assert str(allowed) in message


def test_table_is_exactly_the_documented_machine() -> None:
    table = {(a, b) for a, targets in UNIT_TRANSITIONS.items() for b in targets}
    assert table == LEGAL


def test_every_committed_status_can_be_released_and_only_a_free_unit_goes_out_of_service() -> None:
    for status in COMMITTED:
        assert S.AVAILABLE in UNIT_TRANSITIONS[status]
        assert S.OUT_OF_SERVICE not in UNIT_TRANSITIONS[status]


def test_parse_names_the_valid_statuses() -> None:
    assert parse_unit_status("en_route") is S.EN_ROUTE
    with pytest.raises(ValueError, match="on_scene"):
        parse_unit_status("driving")


@pytest.mark.parametrize(
    ("status", "held", "wanted", "refused"),
    [
        (UnitStatus.ASSIGNED, 3, 1, None),
        (UnitStatus.ACKNOWLEDGED, 2, 1, None),
        (UnitStatus.EN_ROUTE, 4, 3, None),
        (UnitStatus.EN_ROUTE, 1, 1, "more urgent"),  # as urgent is not more urgent
        (UnitStatus.EN_ROUTE, 1, 2, "more urgent"),
        (UnitStatus.ON_SCENE, 4, 1, "on its way"),  # never from work on scene
        (UnitStatus.TRANSPORTING, 4, 1, "on its way"),
        (UnitStatus.AVAILABLE, 4, 1, "on its way"),
    ],
)
def test_a_unit_is_taken_only_on_its_way_and_only_for_a_more_urgent_incident(
    status: UnitStatus, held: int, wanted: int, refused: str | None
) -> None:
    why = preemption_refused(status, held, wanted)
    assert why is None if refused is None else (why is not None and refused in why)
