"""A city whose response times were worked out by hand (the same incidents as
tests/unit/test_report_intervals.py): timelines written event by event, for the reports' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import factories as f

from cad.db import db
from cad.domain.incidents import IncidentStatus, IncidentType
from cad.domain.timeline import EventKind
from cad.models import Call, Incident
from cad.timeline import record_event
from dispatch.units import UnitType

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # Monday 08:00 WITA
URL = "/api/v1/reports/response-times"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _incident(number: str, kind: str, district: str | None, created: float) -> Incident:
    row = Incident(
        number=number,
        type=IncidentType(kind),
        priority=1,
        status=IncidentStatus.CLOSED,
        created_at=at(created),
        district=district,
    )
    db.session.add(row)
    db.session.flush()
    return row


def _event(kind: str, seconds: float, incident: Incident | None, unit_id: int | None = None, **ids: int) -> None:
    record_event(
        db.session,
        EventKind(kind),
        actor="test",
        at=at(seconds),
        incident_id=incident.id if incident else None,
        unit_id=unit_id,
        **ids,
    )


def build_city() -> dict[str, int]:
    """Three incidents (the same as tests/unit/test_report_intervals.py) and one outside the window."""
    amb1 = f.unit("AMB-1", UnitType.AMBULANCE, agency_code="dinkes")
    amb2 = f.unit("AMB-2", UnitType.AMBULANCE, agency_code="dinkes")
    dmk1, dmk2 = f.unit("DMK-1"), f.unit("DMK-2")
    medical = _incident("MKS-1", "medis", "Utara", 0)
    for kind, s in (("call_received", 0), ("call_answered", 10), ("incident_closed", 1600)):
        _event(kind, s, medical)
    for unit, stamps in ((amb1, (70, 120, 400, 1400)), (amb2, (75, 100, 420, 1500))):
        _event("unit_assigned", stamps[0] - 5, medical, unit.id)
        for kind, s in zip(("unit_notified", "unit_en_route", "unit_on_scene", "unit_cleared"), stamps, strict=True):
            _event(kind, s, medical, unit.id)
    # the fire: its call was answered after it was linked, so the answer is on the call alone
    base = 3600 * 8
    fire = _incident("MKS-2", "kebakaran", None, base)
    call = Call(channel="voice", state="answered", received_at=at(base), incident_id=fire.id)
    db.session.add(call)
    db.session.flush()
    _event("call_received", base, fire, call_id=call.id)
    _event("call_linked", base + 1, fire, call_id=call.id)
    _event("call_answered", base + 25, None, call_id=call.id)
    for kind, s in (("unit_notified", 85), ("unit_en_route", 175), ("unit_on_scene", 375)):
        _event(kind, base + s, fire, dmk1.id)
    broken = _incident("MKS-3", "kebakaran", "Selatan", 3600 * 16)
    for kind, s in (("unit_notified", 60), ("unit_en_route", 200), ("unit_on_scene", 150)):
        _event(kind, 3600 * 16 + s, broken, dmk2.id)
    later = _incident("MKS-4", "medis", "Utara", 86400 * 3)
    _event("call_received", 86400 * 3, later)
    _event("call_answered", 86400 * 3 + 99, later)
    db.session.commit()
    return {"medical": medical.id, "fire": fire.id, "broken": broken.id}
