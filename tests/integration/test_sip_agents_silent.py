"""The calls of a SIP agent the centre stops hearing are closed on record as dropped: its node died.

Agents poll `POST /telephony/sip/outbox/claim` once a second naming themselves; the test moves the
centre's clock and polls as the agents of two nodes would, one node falling silent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from live import running

from cad import clock
from cad.app import create_app
from cad.config import Settings
from cad.db import db
from cad.models import Call, TimelineEvent

TOKEN = "intake-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
A, B = "node-a:5061", "node-b:5071"


class Clock:
    def __init__(self) -> None:
        self.at = T0
        clock.set_clock(lambda: self.at)

    def to(self, seconds: float) -> None:
        self.at = T0 + timedelta(seconds=seconds)


@pytest.fixture
def centre(database_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": "",
            "WARROOM_INTAKE_TOKEN": TOKEN,
            "WARROOM_SIP_AGENT_SILENT_S": "10",
        }
    )
    try:
        yield from running(create_app({"TESTING": True}, settings=settings))
    finally:
        clock.set_clock(None)


def poll(client: FlaskClient, agent: str | None) -> None:
    answer = client.post("/telephony/sip/outbox/claim", json={"agent": agent} if agent else None, headers=AUTH)
    assert answer.status_code == 200 and answer.get_json() == []


def invite(client: FlaskClient, sip_call_id: str, agent: str, at: datetime) -> int:
    body = {
        "id": f"inv-{sip_call_id}",
        "kind": "invite",
        "sip_call_id": sip_call_id,
        "phone": "+6281234567890",
        "received_at": at.isoformat(),
        "agent": agent,
    }
    answer = client.post("/telephony/sip/events", json=body, headers=AUTH)
    assert answer.status_code == 200, answer.get_json()
    return int(answer.get_json()["call_id"])


def call_taker() -> dict[str, str]:
    import factories as f

    from cad.models import Role

    return f.user(Role.CALL_TAKER)[1]


def state(client: FlaskClient, call_id: int, headers: dict[str, str]) -> str:
    return str(client.get(f"/api/v1/calls/{call_id}", headers=headers).get_json()["state"])


def test_the_calls_of_an_agent_silent_too_long_are_dropped_once_with_why(centre: FlaskClient) -> None:
    at = Clock()
    headers = call_taker()
    poll(centre, A)
    poll(centre, B)
    held = invite(centre, "held@b", B, at.at)
    ringing = invite(centre, "ringing@b", B, at.at)
    other = invite(centre, "other@a", A, at.at)
    assert centre.post(f"/api/v1/calls/{held}/answer", headers=headers).status_code == 200
    assert centre.get(f"/api/v1/calls/{held}", headers=headers).get_json()["sip_agent"] == B
    for second in range(1, 4):
        at.to(second)
        poll(centre, A)
        poll(centre, B)
    for tenth in range(40, 131, 5):  # node B is gone after 3 s; node A polls on
        at.to(tenth / 10)
        poll(centre, A)
        if tenth <= 130:
            assert state(centre, held, headers) == "answered", tenth  # silent 10 s: not yet
    at.to(13.5)
    poll(centre, A)
    assert [state(centre, c, headers) for c in (held, ringing, other)] == ["dropped", "dropped", "ringing"]
    dropped = db.session.query(Call).filter(Call.sip_agent == B).order_by(Call.id).all()
    assert all(c.ended_at == T0 + timedelta(seconds=13.5) for c in dropped)
    events = db.session.query(TimelineEvent).filter(TimelineEvent.kind == "call_dropped").all()
    assert sorted(e.call_id for e in events) == [held, ringing]
    assert events[0].data == {"reason": "agent_died", "agent": B, "silent_s": 10.5, "by": "centre"}
    for second in (14, 15, 30):  # once: later polls find nothing more to close
        at.to(second)
        poll(centre, A)
    assert db.session.query(TimelineEvent).filter(TimelineEvent.kind == "call_dropped").count() == 2
    # the agent was only cut off from the centre: its own hang-up, when it comes, is on record too
    end = {"id": "late-bye", "kind": "end", "sip_call_id": "held@b", "ended_at": at.at.isoformat(), "reason": "bye"}
    assert centre.post("/telephony/sip/events", json=end, headers=AUTH).get_json()["state"] == "dropped"
    assert centre.post("/telephony/sip/events", json=end, headers=AUTH).status_code == 200  # delivered twice
    last = db.session.query(TimelineEvent).filter(TimelineEvent.call_id == held).order_by(TimelineEvent.id).all()
    assert [e.kind for e in last][-2:] == ["call_dropped", "call_ended"]
    assert last[-1].data == {"reason": "bye", "after": "dropped", "agent": B}


def test_a_call_delivered_after_its_dead_agent_was_swept_and_the_calls_of_an_agent_that_died_twice_are_closed(
    centre: FlaskClient,
) -> None:
    at = Clock()
    headers = call_taker()
    poll(centre, A)
    poll(centre, B)
    first = invite(centre, "first@b", B, T0)
    for second in range(1, 12):
        at.to(second)
        poll(centre, A)
    assert state(centre, first, headers) == "dropped"  # swept at 11 s
    late = invite(centre, "late@b", B, T0)  # its courier's report, delivered late
    for second in range(12, 22):
        at.to(second)
        poll(centre, A)
        assert state(centre, late, headers) == ("ringing" if second < 21 else "dropped"), second
    at.to(23)  # node B restarted: it polls again and takes a new call, then dies again
    poll(centre, B)
    second_life = invite(centre, "second@b", B, at.at)
    for s in range(24, 35):
        at.to(s)
        poll(centre, A)
    assert state(centre, second_life, headers) == "dropped"


def test_when_the_centre_was_away_no_agent_is_judged_by_the_silence_it_did_not_hear(centre: FlaskClient) -> None:
    at = Clock()
    headers = call_taker()
    for second in range(0, 5):
        at.to(second)
        poll(centre, A)
        poll(centre, B)
    held = invite(centre, "held@b", B, at.at)
    # the centre (or its database) is away from 5 s to 65 s: nobody is heard
    for tenth in range(650, 800, 5):
        at.to(tenth / 10)
        poll(centre, A)  # node A's agents reach it first...
        if tenth >= 652:
            poll(centre, B)  # ...node B's a moment later
    assert state(centre, held, headers) == "ringing"
    assert db.session.query(TimelineEvent).filter(TimelineEvent.kind == "call_dropped").count() == 0


def test_a_poll_that_names_no_agent_is_answered_as_before_and_judges_no_one(centre: FlaskClient) -> None:
    at = Clock()
    headers = call_taker()
    poll(centre, B)
    held = invite(centre, "held@b", B, T0)
    for second in range(1, 40):
        at.to(second)
        poll(centre, None)  # an agent of an older release, or one whose pjsua2 thread is stuck
    assert state(centre, held, headers) == "ringing"


def test_an_agent_that_restarts_after_dying_drops_its_calls_itself(centre: FlaskClient) -> None:
    Clock()
    headers = call_taker()
    held = invite(centre, "held@a", A, T0)
    assert centre.post(f"/api/v1/calls/{held}/answer", headers=headers).status_code == 200
    end = {"id": "died", "kind": "end", "sip_call_id": "held@a", "ended_at": T0.isoformat(), "reason": "agent_died"}
    assert centre.post("/telephony/sip/events", json=end, headers=AUTH).get_json()["state"] == "dropped"
    event = db.session.query(TimelineEvent).filter(TimelineEvent.kind == "call_dropped").one()
    assert event.data == {"reason": "agent_died", "agent": A, "by": "agent journal"}


def test_an_agent_with_a_long_name_is_heard_and_its_calls_found_by_the_same_fitted_name(centre: FlaskClient) -> None:
    at = Clock()
    headers = call_taker()
    long_name = "node-b." + "rack-12." * 10 + "centre.example.id:5071"  # a host name longer than the column
    poll(centre, A)
    poll(centre, long_name)
    held = invite(centre, "held@long", long_name, at.at)
    for second in range(1, 13):
        at.to(second)
        poll(centre, A)
    assert state(centre, held, headers) == "dropped"
    not_json = centre.post("/telephony/sip/outbox/claim", data="{agent", headers=AUTH)
    assert not_json.status_code == 200  # a poll is never refused
    odd = centre.post("/telephony/sip/outbox/claim", json={"agent": 5071}, headers=AUTH)
    assert odd.status_code == 200
