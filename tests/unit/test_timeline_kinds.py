"""One enumeration of timeline event kinds, shared by the centre, dispatch and the reports."""

import cad.domain.timeline
from dispatch.units import TIMELINE_EVENT_FOR_STATUS
from reports.intervals import CALL_KINDS, INCIDENT_INTERVALS, STAMP_KINDS, UNIT_INTERVALS
from timeline.kinds import EventKind


def test_the_centre_dispatch_and_reports_use_the_one_enumeration() -> None:
    assert cad.domain.timeline.EventKind is EventKind
    assert all(type(kind) is EventKind for kind in TIMELINE_EVENT_FOR_STATUS.values())
    assert all(type(kind) is EventKind for kind in STAMP_KINDS + CALL_KINDS)


def test_every_interval_runs_between_recorded_kinds_or_stamps_derived_from_them() -> None:
    derived = {"first_notified", "first_arriving_notified", "first_arriving_en_route", "first_on_scene", "last_cleared"}
    for _, start, end in INCIDENT_INTERVALS + UNIT_INTERVALS:
        for stamp in (start, end):
            assert stamp in derived or type(stamp) is EventKind, stamp
