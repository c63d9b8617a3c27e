"""Response-time intervals of NFPA 1710/1221 and NENA from an incident's timeline stamps (pure).

The stamps are the first time each event kind was recorded for the incident (and for each
responding unit; a unit's clearance is its last). An interval is measured only when both of
its stamps exist and the end is not before the start. Everything else becomes a finding:
an interval whose end was recorded but whose start was not ("missing"), or whose end comes
before its start ("out_of_order"). Nothing is dropped silently and nothing counts as zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from timeline.kinds import EventKind


class Interval(StrEnum):
    ANSWERING = "answering"  # call received → answered (NENA call answering)
    PROCESSING = "processing"  # answered → first unit notified (NFPA 1221 alarm processing)
    TURNOUT = "turnout"  # unit notified → en route (NFPA 1710)
    TRAVEL = "travel"  # en route → on scene
    RESPONSE = "response"  # call received → first unit on scene (total response)
    ON_SCENE = "on_scene"  # on scene → cleared (for an incident: first arrival → last arrived unit cleared)
    TO_CLOSE = "to_close"  # call received → incident closed


class Level(StrEnum):
    INCIDENT = "incident"
    UNIT = "unit"


class Problem(StrEnum):
    MISSING = "missing"
    OUT_OF_ORDER = "out_of_order"


#: What each interval runs between, for people (tables, CSV headers, the PDF).
INTERVAL_LABELS: dict[Interval, str] = {
    Interval.ANSWERING: "Call answering (received → answered)",
    Interval.PROCESSING: "Call processing (answered → first unit notified)",
    Interval.TURNOUT: "Turnout (notified → en route)",
    Interval.TRAVEL: "Travel (en route → on scene)",
    Interval.RESPONSE: "Total response (received → first unit on scene)",
    Interval.ON_SCENE: "Time on scene (arrived → cleared)",
    Interval.TO_CLOSE: "Time to close (received → closed)",
}

#: The timeline events a response is timed by: the incident's own, each responding unit's, and
#: those recorded on a call before it was linked to its incident.
INCIDENT_KINDS = (EventKind.CALL_RECEIVED, EventKind.CALL_ANSWERED, EventKind.INCIDENT_CLOSED)
UNIT_KINDS = (EventKind.UNIT_NOTIFIED, EventKind.UNIT_EN_ROUTE, EventKind.UNIT_ON_SCENE, EventKind.UNIT_CLEARED)
CALL_KINDS = (EventKind.CALL_RECEIVED, EventKind.CALL_ANSWERED)
STAMP_KINDS = INCIDENT_KINDS + UNIT_KINDS

#: Incident-level intervals: (interval, start stamp, end stamp) over the derived incident stamps.
INCIDENT_INTERVALS: tuple[tuple[Interval, str, str], ...] = (
    (Interval.ANSWERING, EventKind.CALL_RECEIVED, EventKind.CALL_ANSWERED),
    (Interval.PROCESSING, EventKind.CALL_ANSWERED, "first_notified"),
    (Interval.TURNOUT, "first_arriving_notified", "first_arriving_en_route"),
    (Interval.TRAVEL, "first_arriving_en_route", "first_on_scene"),
    (Interval.RESPONSE, EventKind.CALL_RECEIVED, "first_on_scene"),
    (Interval.ON_SCENE, "first_on_scene", "last_cleared"),
    (Interval.TO_CLOSE, EventKind.CALL_RECEIVED, EventKind.INCIDENT_CLOSED),
)

#: Unit-level intervals over one unit's stamps on one incident.
UNIT_INTERVALS: tuple[tuple[Interval, str, str], ...] = (
    (Interval.TURNOUT, EventKind.UNIT_NOTIFIED, EventKind.UNIT_EN_ROUTE),
    (Interval.TRAVEL, EventKind.UNIT_EN_ROUTE, EventKind.UNIT_ON_SCENE),
    (Interval.ON_SCENE, EventKind.UNIT_ON_SCENE, EventKind.UNIT_CLEARED),
)


@dataclass(frozen=True)
class UnitStamps:
    unit_id: int
    callsign: str
    agency: str
    unit_notified: datetime | None = None
    unit_en_route: datetime | None = None
    unit_on_scene: datetime | None = None
    unit_cleared: datetime | None = None


@dataclass(frozen=True)
class IncidentStamps:
    """One incident's first stamps, with what reports group it by."""

    incident_id: int
    number: str
    type: str
    district: str | None
    created_at: datetime
    call_received: datetime | None = None
    call_answered: datetime | None = None
    incident_closed: datetime | None = None
    units: tuple[UnitStamps, ...] = ()


@dataclass(frozen=True)
class Measurement:
    """One measured interval, in seconds, with the keys reports group by."""

    level: Level
    interval: Interval
    seconds: float
    incident_id: int
    unit_id: int | None
    category: str  # "medical" or "fire": which turnout target applies


@dataclass(frozen=True)
class Finding:
    """An interval that could not be measured, and why."""

    level: Level
    interval: Interval
    problem: Problem
    incident_id: int
    number: str
    unit_id: int | None
    callsign: str | None
    detail: str


@dataclass(frozen=True)
class Measured:
    measurements: list[Measurement]
    findings: list[Finding]


def derived_stamps(incident: IncidentStamps) -> dict[str, datetime | None]:
    """The incident-level stamps the intervals run between.

    The first-arriving unit is the unit with the earliest `unit_on_scene` (ties: lowest unit
    id); turnout and travel for the incident are its own. `last_cleared` is the latest
    clearance of the units that arrived, and only when every one of them has cleared.
    """
    notified = [u.unit_notified for u in incident.units if u.unit_notified is not None]
    arrived = sorted((u for u in incident.units if u.unit_on_scene is not None), key=_arrival_key)
    first = arrived[0] if arrived else None
    cleared = [u.unit_cleared for u in arrived]
    return {
        EventKind.CALL_RECEIVED: incident.call_received,
        EventKind.CALL_ANSWERED: incident.call_answered,
        EventKind.INCIDENT_CLOSED: incident.incident_closed,
        "first_notified": min(notified) if notified else None,
        "first_arriving_notified": first.unit_notified if first else None,
        "first_arriving_en_route": first.unit_en_route if first else None,
        "first_on_scene": first.unit_on_scene if first else None,
        "last_cleared": max(c for c in cleared if c is not None) if arrived and None not in cleared else None,
    }


def _arrival_key(unit: UnitStamps) -> tuple[datetime, int]:
    assert unit.unit_on_scene is not None
    return unit.unit_on_scene, unit.unit_id


def turnout_category(incident_type: str, medical_types: Iterable[str]) -> str:
    """NFPA 1710 has one turnout target for EMS calls and another for fire and special operations."""
    return "medical" if incident_type in set(medical_types) else "fire"


def measure(incidents: Iterable[IncidentStamps], medical_types: Sequence[str] = ("medis",)) -> Measured:
    """Every interval of every incident and responding unit, and the findings."""
    measurements: list[Measurement] = []
    findings: list[Finding] = []
    for incident in incidents:
        category = turnout_category(incident.type, medical_types)
        stamps = derived_stamps(incident)
        for interval, start_name, end_name in INCIDENT_INTERVALS:
            _one(
                Level.INCIDENT,
                interval,
                start_name,
                stamps[start_name],
                end_name,
                stamps[end_name],
                incident,
                None,
                category,
                measurements,
                findings,
            )
        for unit in incident.units:
            unit_stamps: dict[str, datetime | None] = {
                EventKind.UNIT_NOTIFIED: unit.unit_notified,
                EventKind.UNIT_EN_ROUTE: unit.unit_en_route,
                EventKind.UNIT_ON_SCENE: unit.unit_on_scene,
                EventKind.UNIT_CLEARED: unit.unit_cleared,
            }
            for interval, start_name, end_name in UNIT_INTERVALS:
                _one(
                    Level.UNIT,
                    interval,
                    start_name,
                    unit_stamps[start_name],
                    end_name,
                    unit_stamps[end_name],
                    incident,
                    unit,
                    category,
                    measurements,
                    findings,
                )
    return Measured(measurements, findings)


def _one(
    level: Level,
    interval: Interval,
    start_name: str,
    start: datetime | None,
    end_name: str,
    end: datetime | None,
    incident: IncidentStamps,
    unit: UnitStamps | None,
    category: str,
    measurements: list[Measurement],
    findings: list[Finding],
) -> None:
    unit_id = unit.unit_id if unit else None
    if end is None:
        return  # not reached (yet): nothing to measure, nothing wrong
    if start is None:
        findings.append(
            Finding(
                level,
                interval,
                Problem.MISSING,
                incident.incident_id,
                incident.number,
                unit_id,
                unit.callsign if unit else None,
                f"{end_name} at {end.isoformat()} but no {start_name}",
            )
        )
        return
    seconds = (end - start).total_seconds()
    if seconds < 0:
        findings.append(
            Finding(
                level,
                interval,
                Problem.OUT_OF_ORDER,
                incident.incident_id,
                incident.number,
                unit_id,
                unit.callsign if unit else None,
                f"{end_name} at {end.isoformat()} is {-seconds:g} s before {start_name} at {start.isoformat()}",
            )
        )
        return
    measurements.append(Measurement(level, interval, seconds, incident.incident_id, unit_id, category))
