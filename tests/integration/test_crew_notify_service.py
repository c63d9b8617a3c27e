"""The crew's notify service on its own: no Flask request, only what it is handed (session, SMS
sender, timers, router, settings), and the order that never loses what was done."""

from __future__ import annotations

from datetime import datetime

import factories as f
import pytest
from flask import Flask
from sqlalchemy import select

from cad.db import db
from cad.domain.incidents import IncidentType
from cad.domain.timeline import EventKind
from cad.models import Assignment, Role, TimelineEvent
from cad.services import dispatching, incidents, notify
from cad.services.calls import Fix
from telephony.sms_sender import SentSms

CREW_PHONE = "+6281377700001"


class RecordingSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> SentSms:
        self.sent.append((to, body))
        return SentSms("SM1", "sent")


class RecordingTimers:
    def __init__(self) -> None:
        self.set: list[tuple[int, datetime]] = []

    def schedule(self, assignment_id: int, run_at: datetime) -> None:
        self.set.append((assignment_id, run_at))


def _assignment() -> Assignment:
    dispatcher, _ = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    unit.crew_phone = CREW_PHONE
    db.session.commit()
    new = incidents.NewIncident(IncidentType("kebakaran"), 1, Fix(-1.2760, 116.8470, 10.0, "manual"))
    incident = incidents.create_incident(db.session, new, dispatcher, prefix="T", tz="Asia/Makassar")
    return dispatching.assign_unit(db.session, incident.id, unit.id, dispatcher)


def _notified(assignment_id: int) -> list[TimelineEvent]:
    db.session.expire_all()
    unit_id = db.session.get_one(Assignment, assignment_id).unit_id
    return list(
        db.session.scalars(
            select(TimelineEvent).where(TimelineEvent.kind == EventKind.UNIT_NOTIFIED, TimelineEvent.unit_id == unit_id)
        )
    )


def test_the_crew_is_told_through_what_the_service_is_handed(app: Flask) -> None:
    assignment = _assignment()
    sms, timers, asked = RecordingSms(), RecordingTimers(), []

    def router() -> None:
        asked.append(len(sms.sent))  # how many SMS had gone when the router was asked for
        return None

    notify.tell_crew(
        db.session,
        assignment.id,
        settings=app.config["WARROOM"],
        sms=sms,
        link_base="https://centre.example/",
        timers=timers,
        router=router,
    )
    assert [to for to, _ in sms.sent] == [CREW_PHONE]
    assert f"https://centre.example/c/{assignment.crew_code} " in sms.sent[0][1]
    assert asked == [1], "the SMS goes before the router is asked for"
    assert [assignment_id for assignment_id, _ in timers.set] == [assignment.id]
    assert [e.data for e in _notified(assignment.id)] == [{"stream": "sent", "sms": "sent", "sms_sid": "SM1"}]


def test_the_notification_is_committed_before_the_route_may_fail(app: Flask) -> None:
    assignment = _assignment()
    timers = RecordingTimers()

    def broken_router() -> None:
        raise RuntimeError("road graph unreadable")

    with pytest.raises(RuntimeError):
        notify.tell_crew(
            db.session,
            assignment.id,
            settings=app.config["WARROOM"],
            sms=RecordingSms(),
            link_base="https://centre.example",
            timers=timers,
            router=broken_router,
        )
    db.session.rollback()
    assert len(_notified(assignment.id)) == 1
    assert db.session.get_one(Assignment, assignment.id).active
