"""The centre's side of the SIP agent: journal entries in, at least once, in any shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from live import running

from cad.app import create_app
from cad.config import Settings
from cad.db import db
from cad.models import Call, Message, TimelineEvent

TOKEN = "intake-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INVITE = {
    "id": "e1",
    "kind": "invite",
    "sip_call_id": "abc@10.0.0.1",
    "phone": "+6281234567890",
    "name": "Budi",
    "received_at": "2026-11-24T01:00:00+00:00",
    "contact": "<sip:0812@10.0.0.1:5062>",
    "location": {"lat": -1.265, "lon": 116.84, "accuracy_m": 30, "address": "Jl. Sudirman 5"},
    "location_warning": None,
}


@pytest.fixture
def agent_client(database_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": "",
            "WARROOM_INTAKE_TOKEN": TOKEN,
        }
    )
    yield from running(create_app({"TESTING": True}, settings=settings))


def _call_taker() -> dict[str, str]:
    import factories as f

    from cad.models import Role

    return f.user(Role.CALL_TAKER)[1]


def post(client: FlaskClient, body: object, headers: dict[str, str] = AUTH):
    return client.post("/telephony/sip/events", json=body, headers=headers)


def test_a_delivered_twice_invite_is_one_call_and_its_end_once(agent_client: FlaskClient) -> None:
    first, again = post(agent_client, INVITE), post(agent_client, INVITE)
    assert first.status_code == again.status_code == 200
    assert first.get_json()["call_id"] == again.get_json()["call_id"]
    call = db.session.query(Call).one()
    assert (call.lat, call.lon, call.location_source, call.location_address) == (
        -1.265,
        116.84,
        "pidf-lo",
        "Jl. Sudirman 5",
    )
    end = {
        "id": "e2",
        "kind": "end",
        "sip_call_id": "abc@10.0.0.1",
        "ended_at": "2026-11-24T01:00:40+00:00",
        "reason": "bye",
    }
    assert post(agent_client, end).get_json()["state"] == "abandoned"
    assert post(agent_client, end).status_code == 200
    kinds = [e.kind for e in db.session.query(TimelineEvent).order_by(TimelineEvent.id)]
    assert kinds == ["call_received", "call_abandoned"]


def test_a_queued_call_waits_then_rings_when_an_agent_takes_it(agent_client: FlaskClient) -> None:
    queued = {**INVITE, "id": "q1", "sip_call_id": "queued@x", "queued": True}
    assert post(agent_client, queued).get_json()["state"] == "waiting"
    listed = agent_client.get("/api/v1/calls?state=active", headers=_call_taker()).get_json()
    assert [c["state"] for c in listed] == ["waiting"]
    connected = {"id": "q2", "kind": "connected", "sip_call_id": "queued@x", "connected_at": "2026-11-24T01:00:09Z"}
    assert post(agent_client, connected).get_json()["state"] == "ringing"
    assert post(agent_client, connected).get_json()["state"] == "ringing"  # a replay changes nothing
    end = {"id": "q3", "kind": "end", "sip_call_id": "queued@x", "ended_at": "2026-11-24T01:00:20Z"}
    assert post(agent_client, end).get_json()["state"] == "abandoned"
    kinds = [e.kind for e in db.session.query(TimelineEvent).order_by(TimelineEvent.id)]
    assert kinds == ["call_received", "call_connected", "call_abandoned"]


def test_a_caller_who_hangs_up_in_the_queue_is_abandoned(agent_client: FlaskClient) -> None:
    post(agent_client, {**INVITE, "id": "q1", "sip_call_id": "gave-up@x", "queued": True})
    end = {"id": "q2", "kind": "end", "sip_call_id": "gave-up@x", "ended_at": "2026-11-24T01:00:20Z"}
    assert post(agent_client, end).get_json()["state"] == "abandoned"


def test_an_overflowed_call_is_on_record_with_where_it_went(agent_client: FlaskClient) -> None:
    overflow = {**INVITE, "id": "o1", "kind": "overflow", "sip_call_id": "over@x", "target": "sip:112@tetangga.id"}
    first, again = post(agent_client, overflow), post(agent_client, overflow)
    assert first.get_json() == again.get_json() and first.get_json()["state"] == "overflowed"
    call = db.session.query(Call).one()
    assert call.lat == -1.265 and call.ended_at is not None and call.caller is not None
    events = db.session.query(TimelineEvent).order_by(TimelineEvent.id).all()
    assert [e.kind for e in events] == ["call_received", "call_overflowed"]
    assert events[1].data == {"to": "sip:112@tetangga.id"}
    assert post(agent_client, {**overflow, "id": "o2", "target": None}).get_json()["error"]["field"] == "target"


def test_an_anonymous_caller_has_no_caller_record(agent_client: FlaskClient) -> None:
    post(agent_client, {**INVITE, "sip_call_id": "anon@x", "phone": "anonymous", "location": None})
    post(agent_client, {**INVITE, "id": "e9", "sip_call_id": "anon2@x", "phone": None, "location": None})
    assert [c.caller_id for c in db.session.query(Call)] == [None, None]


def test_a_sip_message_twice_is_stored_once(agent_client: FlaskClient) -> None:
    message = {
        "id": "m1",
        "kind": "message",
        "external_id": "sip:xyz:1",
        "phone": "+6281234567890",
        "body": "Tolong \u0000 kebakaran",
        "received_at": "2026-11-24T01:00:00+00:00",
        "contact": "<sip:0812@10.0.0.1:5062>",
    }
    assert post(agent_client, message).get_json()["duplicate"] is False
    assert post(agent_client, message).get_json()["duplicate"] is True
    stored = db.session.query(Message).one()
    assert stored.body == "Tolong \ufffd kebakaran" and stored.channel == "sip_message"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({**INVITE, "kind": "register"}, 400, "kind"),
        ({**INVITE, "sip_call_id": None}, 400, "sip_call_id"),
        ({**INVITE, "received_at": "yesterday"}, 400, "received_at"),
        ({**INVITE, "location": {"lat": 123, "lon": 1}}, 400, "location.lat"),
        (
            {"id": "x", "kind": "message", "external_id": "a", "phone": "1", "received_at": "2026-11-24T01:00:00Z"},
            400,
            "body",
        ),
        ([1, 2, 3], 400, None),
    ],
)
def test_malformed_events_are_refused_for_good_naming_the_field(
    agent_client: FlaskClient, body: object, status: int, field: str | None
) -> None:
    response = post(agent_client, body)
    assert response.status_code == status
    if field:
        assert response.get_json()["error"]["field"] == field
    assert db.session.query(Call).count() == 0


def test_without_the_intake_token_nothing_gets_in(agent_client: FlaskClient) -> None:
    assert post(agent_client, INVITE, headers={}).status_code == 401
    assert post(agent_client, INVITE, headers={"Authorization": "Bearer guess"}).status_code == 403
    assert db.session.query(Call).count() == 0
