"""What a crew's event stream carries, through the code the stream runs: `EventBus.publish` routes
a live change by `Change.units()` to the crews of those units, and a stream that resumes replays
through `Audience.hears` (`may_hear`). Both must agree, for every kind of change the centre makes
(the shapes below are those of cad/services): a crew hears its own unit's changes, never another
unit's, never a change that names no unit (an incident, a call, a message, a camera)."""

from __future__ import annotations

from typing import Any

import pytest

from cad.events import Audience, Change, EventBus, may_hear

OWN, OTHER = 7, 8

#: (kind, data, the units it is about): one of each kind of change the services publish.
CHANGES: list[tuple[str, dict[str, Any], set[int]]] = [
    ("unit", {"id": OWN, "status": "en_route"}, {OWN}),
    ("unit", {"id": OTHER, "status": "assigned"}, {OTHER}),
    ("unit", {"id": OWN, "position": {"lat": -1.26, "lon": 116.83}}, {OWN}),  # a GPS fix (fix_writer)
    ("assignment", {"id": 3, "incident_id": 9, "unit_id": OWN}, {OWN}),
    ("assignment", {"id": 4, "incident_id": 9, "unit_id": OTHER, "active": False, "reason": "salah kirim"}, {OTHER}),
    ("route", {"unit_id": OWN, "assignment_id": 3, "eta_s": 60}, {OWN}),
    ("route", {"unit_id": OTHER, "assignment_id": 4, "eta_s": 90}, {OTHER}),
    ("incident", {"id": 9, "status": "dispatched"}, set()),
    ("incident", {"id": 9, "status": "dispatched", "changed": ["description"], "version": 2}, set()),
    ("incident", {"id": 9, "status": "on_scene", "unit_id": OWN}, {OWN}),  # an incident change naming a unit
    ("incident", {"id": 9, "status": "on_scene", "unit_id": OTHER}, {OTHER}),
    ("alert", {"kind": "declined", "incident_id": 9, "unit_id": OWN, "callsign": "DMK-07"}, {OWN}),
    ("alert", {"kind": "ack_overdue", "incident_id": 9, "unit_id": OTHER, "assignment_id": 4}, {OTHER}),
    ("alert", {"kind": "unassigned", "incident_id": 9, "level": 1}, set()),
    ("alert", {"kind": "acknowledged", "id": "unassigned-9"}, set()),
    ("message", {"id": 5, "call_id": 1, "direction": "in"}, set()),
    ("call", {"id": 1, "state": "ringing", "phone": "+6281234567890"}, set()),
    ("congestion", {"camera": "CAM-1", "level": "closed", "expires_at": "2026-12-03T12:00:00+00:00"}, set()),
    ("intake_failure", {"id": 2, "phone": "+6281299990000"}, set()),
    # numbers that only look like the unit's: a string id, an assignment's or an incident's own id
    ("unit", {"id": str(OWN)}, set()),
    ("assignment", {"id": OWN, "incident_id": OWN, "unit_id": OTHER}, {OTHER}),
]


def _changes() -> list[Change]:
    return [Change(n, kind, data) for n, (kind, data, _) in enumerate(CHANGES, start=1)]


@pytest.mark.parametrize(("kind", "data", "about"), CHANGES, ids=[f"{k}-{n}" for n, (k, _, _) in enumerate(CHANGES)])
def test_a_change_is_about_the_units_it_names(kind: str, data: dict[str, Any], about: set[int]) -> None:
    change = Change(1, kind, data)
    assert change.units() == about
    assert may_hear(OWN, change) is (OWN in about)
    assert may_hear(OTHER, change) is (OTHER in about)
    assert not may_hear(None, change)  # a crew login without a unit hears nothing
    assert Audience(crew=True, unit_id=OWN).hears(change) is (OWN in about)
    assert Audience(crew=True, unit_id=None).hears(change) is False
    assert Audience().hears(change)  # a console hears everything


def test_the_live_path_and_the_replay_give_a_crew_the_same_changes() -> None:
    """Published on a bus: each crew's queue holds exactly what a resuming stream of that crew
    would replay (`Audience.hears`), and a console's holds everything."""
    bus = EventBus()
    own = bus.subscribe(Audience(crew=True, unit_id=OWN))
    other = bus.subscribe(Audience(crew=True, unit_id=OTHER))
    nobody = bus.subscribe(Audience(crew=True, unit_id=None))
    console = bus.subscribe(Audience())
    changes = _changes()
    for change in changes:
        bus.publish(change)

    def queued(listener: Any) -> list[int]:
        got = []
        while not listener.queue.empty():
            got.append(listener.queue.get_nowait().id)
        return got

    expected_own = [c.id for c in changes if c.units() & {OWN}]
    assert queued(own) == expected_own == [c.id for c in changes if own.audience.hears(c)]
    assert queued(other) == [c.id for c in changes if other.audience.hears(c)]
    assert set(expected_own).isdisjoint(c.id for c in changes if OTHER in c.units() and OWN not in c.units())
    assert queued(nobody) == []
    assert queued(console) == [c.id for c in changes]
    for listener in (own, other, nobody, console):
        bus.unsubscribe(listener)
    assert bus.listening() == 0
