"""The incident lifecycle and incident numbers."""

import itertools
from datetime import date

import pytest

from cad.domain.incidents import (
    INCIDENT_TRANSITIONS,
    IllegalIncidentTransition,
    IncidentStatus,
    IncidentType,
    MergeRefused,
    change_incident_status,
    check_merge,
    format_incident_number,
    status_after_unit_released,
)

I = IncidentStatus
LEGAL = {
    (I.NEW, I.DISPATCHED),
    (I.NEW, I.CLOSED),
    (I.NEW, I.CANCELLED),
    (I.DISPATCHED, I.ON_SCENE),
    (I.DISPATCHED, I.NEW),
    (I.DISPATCHED, I.CLOSED),  # over before anyone arrived (its units released first)
    (I.DISPATCHED, I.CANCELLED),
    (I.ON_SCENE, I.CLOSED),
}


@pytest.mark.parametrize(("current", "requested"), sorted(LEGAL))
def test_legal_moves(current: IncidentStatus, requested: IncidentStatus) -> None:
    assert change_incident_status(current, requested) is requested


@pytest.mark.parametrize(("current", "requested"), [p for p in itertools.product(I, I) if p not in LEGAL])
def test_illegal_moves(current: IncidentStatus, requested: IncidentStatus) -> None:
    with pytest.raises(IllegalIncidentTransition, match=f"{current} cannot become {requested}"):
        change_incident_status(current, requested)


def test_table_matches() -> None:
    assert {(a, b) for a, bs in INCIDENT_TRANSITIONS.items() for b in bs} == LEGAL


def test_closed_and_cancelled_are_final() -> None:
    assert not INCIDENT_TRANSITIONS[I.CLOSED] and not INCIDENT_TRANSITIONS[I.CANCELLED]


def test_close_refused_while_units_are_committed() -> None:
    with pytest.raises(IllegalIncidentTransition, match="2 unit"):
        change_incident_status(I.ON_SCENE, I.CLOSED, committed_units=2)
    assert change_incident_status(I.ON_SCENE, I.CLOSED, committed_units=0) is I.CLOSED


@pytest.mark.parametrize(
    ("current", "left", "reached", "expected"),
    [
        (I.DISPATCHED, 0, False, I.NEW),  # the only unit was withdrawn before arriving
        (I.DISPATCHED, 1, False, I.DISPATCHED),  # another unit is still on its way
        (I.ON_SCENE, 0, True, I.ON_SCENE),  # the last unit cleared: the dispatcher closes
        (I.DISPATCHED, 0, True, I.DISPATCHED),
    ],
)
def test_status_after_a_unit_is_released(
    current: IncidentStatus, left: int, reached: bool, expected: IncidentStatus
) -> None:
    assert status_after_unit_released(current, left, reached) is expected


def test_incident_number_format() -> None:
    assert format_incident_number("MKS", date(2026, 11, 22), 1) == "MKS-20261122-0001"
    assert format_incident_number("MKS", date(2026, 11, 22), 12345) == "MKS-20261122-12345"
    with pytest.raises(ValueError):
        format_incident_number("MKS", date(2026, 11, 22), 0)


def test_incident_types_of_an_indonesian_centre() -> None:
    assert {t.value for t in IncidentType} == {
        "kebakaran",
        "medis",
        "kecelakaan",
        "penyelamatan",
        "bencana",
        "keamanan",
        "lainnya",
    }


@pytest.mark.parametrize(
    ("duplicate_open", "into_open", "same", "into_merged", "why"),
    [
        (True, True, True, False, "into itself"),
        (False, True, False, False, "only an open incident"),
        (True, False, False, False, "no longer open"),
        (True, True, False, True, "no longer open"),  # merged away itself: merge into the survivor
    ],
)
def test_merges_that_make_no_sense(
    duplicate_open: bool, into_open: bool, same: bool, into_merged: bool, why: str
) -> None:
    with pytest.raises(MergeRefused, match=why):
        check_merge(duplicate_open, into_open, same, into_merged)
    check_merge(True, True, False, False)  # two open incidents: fine
