"""Unit types and the unit status state machine (pure)."""

from __future__ import annotations

from enum import StrEnum

from timeline.kinds import EventKind


class UnitType(StrEnum):
    FIRE_ENGINE = "fire_engine"
    RESCUE = "rescue"
    WATER_TANKER = "water_tanker"
    HOME_CARE = "home_care"
    AMBULANCE = "ambulance"
    POLICE = "police"


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    OUT_OF_SERVICE = "out_of_service"


S = UnitStatus

#: Every legal move. A unit that is committed to an incident may always be released
#: back to `available` (cleared, or the dispatcher cancels); only a free unit goes out
#: of service, and a crew that skips "acknowledged" and drives off acknowledges by doing so.
UNIT_TRANSITIONS: dict[UnitStatus, frozenset[UnitStatus]] = {
    S.AVAILABLE: frozenset({S.ASSIGNED, S.OUT_OF_SERVICE}),
    S.ASSIGNED: frozenset({S.ACKNOWLEDGED, S.EN_ROUTE, S.AVAILABLE}),
    S.ACKNOWLEDGED: frozenset({S.EN_ROUTE, S.AVAILABLE}),
    S.EN_ROUTE: frozenset({S.ON_SCENE, S.AVAILABLE}),
    S.ON_SCENE: frozenset({S.TRANSPORTING, S.AVAILABLE}),
    S.TRANSPORTING: frozenset({S.AT_HOSPITAL, S.AVAILABLE}),
    S.AT_HOSPITAL: frozenset({S.AVAILABLE}),
    S.OUT_OF_SERVICE: frozenset({S.AVAILABLE}),
}

#: Statuses in which a unit is committed to an incident (has an active assignment).
COMMITTED = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.EN_ROUTE, S.ON_SCENE, S.TRANSPORTING, S.AT_HOSPITAL})


class IllegalUnitTransition(ValueError):
    """A status change the state machine does not allow."""

    def __init__(self, current: UnitStatus, requested: UnitStatus) -> None:
        allowed = ", ".join(sorted(UNIT_TRANSITIONS[current])) or "none"
        super().__init__(f"a unit that is {current} cannot become {requested} (allowed: {allowed})")
        self.current = current
        self.requested = requested


def parse_unit_status(value: object) -> UnitStatus:
    """The status named by `value`, or ValueError listing the valid ones."""
    try:
        return UnitStatus(str(value))
    except ValueError:
        raise ValueError(f"unknown unit status {value!r}; expected one of {', '.join(UnitStatus)}") from None


def change_unit_status(current: UnitStatus, requested: UnitStatus) -> UnitStatus:
    """The new status, or IllegalUnitTransition when the move is not allowed."""
    if requested not in UNIT_TRANSITIONS[current]:
        raise IllegalUnitTransition(current, requested)
    return requested


#: Statuses from which a unit may be taken for a more urgent incident: on its way, not yet at work.
PREEMPTABLE = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.EN_ROUTE})


def preemption_refused(unit_status: UnitStatus, held_priority: int, wanted_priority: int) -> str | None:
    """Why a committed unit may not be taken for an incident of `wanted_priority` (1 most
    urgent), or None when it may: only for a strictly more urgent incident, and only before
    the crew is at work on the scene."""
    if unit_status not in PREEMPTABLE:
        return f"the unit is {unit_status}: only a unit on its way can be taken"
    if wanted_priority >= held_priority:
        return f"the unit's incident is P{held_priority}: only a more urgent incident may take it"
    return None


class DeclineReason(StrEnum):
    """Why a crew says "tidak bisa" to a job."""

    BREAKDOWN = "rusak"  # the vehicle cannot go
    BUSY = "sibuk"  # already busy with something the centre does not know of
    OTHER = "lainnya"


#: Where a unit goes after declining: a broken or busy unit is out of service until its crew
#: says it is available again (else it would be recommended straight back); otherwise available.
STATUS_AFTER_DECLINE: dict[DeclineReason, UnitStatus] = {
    DeclineReason.BREAKDOWN: S.OUT_OF_SERVICE,
    DeclineReason.BUSY: S.OUT_OF_SERVICE,
    DeclineReason.OTHER: S.AVAILABLE,
}

#: The timeline event recorded when a unit reaches a status while on an incident.
TIMELINE_EVENT_FOR_STATUS: dict[UnitStatus, EventKind] = {
    S.ASSIGNED: EventKind.UNIT_ASSIGNED,
    S.ACKNOWLEDGED: EventKind.UNIT_ACKNOWLEDGED,
    S.EN_ROUTE: EventKind.UNIT_EN_ROUTE,
    S.ON_SCENE: EventKind.UNIT_ON_SCENE,
    S.TRANSPORTING: EventKind.UNIT_TRANSPORTING,
    S.AT_HOSPITAL: EventKind.UNIT_AT_HOSPITAL,
    S.AVAILABLE: EventKind.UNIT_CLEARED,
}
