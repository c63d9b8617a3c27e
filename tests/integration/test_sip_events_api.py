"""The centre's side of the SIP agent: journal entries in, at least once, in any shape."""

from __future__ import annotations

import json
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
    # an overflow whose target the agent did not know is still on record, never refused
    unknown = post(agent_client, {**overflow, "id": "o2", "sip_call_id": "over2@x", "target": None})
    assert unknown.status_code == 200 and unknown.get_json()["state"] == "overflowed"


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


def test_what_the_network_sent_wrong_never_costs_the_call_its_record(agent_client: FlaskClient) -> None:
    """A location outside the globe is dropped with a warning; an empty text is still a text."""
    answer = post(agent_client, {**INVITE, "location": {"lat": 123, "lon": 1}})
    assert answer.status_code == 200
    call = db.session.query(Call).one()
    assert call.lat is None and call.state == "ringing"
    warning = db.session.query(TimelineEvent).filter_by(kind="call_located").one().data["warning"]
    assert "location unusable" in warning
    empty = {"id": "x", "kind": "message", "external_id": "a", "phone": "1", "received_at": "2026-11-24T01:00:00Z"}
    assert post(agent_client, empty).status_code == 200
    assert db.session.query(Message).one().body == ""


def test_overlong_header_values_are_fitted_and_kept_whole(agent_client: FlaskClient) -> None:
    """Display name, Call-ID, Contact and number longer than their columns: the call is recorded with
    what fits, the originals beside it, and the call's end still finds it."""
    long_id = "c" * 400 + "@carrier.example"
    invite = {
        **INVITE,
        "sip_call_id": long_id,
        "name": "Ibu " + "Siti " * 200,
        "contact": "<sip:0812@10.0.0.1:5062;" + "x-param=1;" * 60 + ">",
        "phone": "0812" + "9" * 90,
        "location": {**INVITE["location"], "address": "Jl. Sudirman " * 40},
    }
    answer = post(agent_client, invite)
    assert answer.status_code == 200, answer.get_json()
    call = db.session.get(Call, answer.get_json()["call_id"])
    assert call is not None and len(call.sip_call_id or "") <= 255 and call.sip_call_id.startswith("ccc")
    assert len(call.sip_contact or "") <= 255 and call.caller is not None and len(call.caller.name or "") <= 120
    kept = json.loads(call.sip_headers or "{}")
    assert kept["sip_call_id"] == long_id and kept["name"] == invite["name"] and kept["contact"] == invite["contact"]
    assert kept["phone"] == invite["phone"] and kept["address"] == invite["location"]["address"]
    assert call.lat == INVITE["location"]["lat"]
    shown = agent_client.get(f"/api/v1/calls/{call.id}", headers=_call_taker())
    assert shown.get_json()["sip_headers"]["sip_call_id"] == long_id
    end = {"id": "e-long", "kind": "end", "sip_call_id": long_id, "ended_at": "2026-11-24T01:00:30Z"}
    assert post(agent_client, end).get_json() == {"call_id": call.id, "state": "abandoned"}
    other = post(agent_client, {**invite, "id": "e-other", "sip_call_id": "c" * 400 + "@other.example"})
    assert other.get_json()["call_id"] != call.id  # same first 255 characters, another call


def test_without_the_intake_token_nothing_gets_in(agent_client: FlaskClient) -> None:
    assert post(agent_client, INVITE, headers={}).status_code == 401
    assert post(agent_client, INVITE, headers={"Authorization": "Bearer guess"}).status_code == 403
    assert db.session.query(Call).count() == 0


def test_the_proxys_copy_of_a_big_invite_completes_the_agents_report_in_either_order(
    agent_client: FlaskClient,
) -> None:
    """Kamailio hands the centre the whole INVITE (`queued` until an agent reports it) while the agent
    gets it without its body: one call, ringing, with the location, whichever arrives first."""
    bare = {**INVITE, "id": "a1", "location": None, "location_ref": None}
    copy = {**INVITE, "id": "p1", "queued": True, "location_ref": "https://lis.example/loc/77"}
    for order, call_id in (((copy, bare), "first@x"), ((bare, copy), "second@x")):
        for event in order:
            answer = post(agent_client, {**event, "id": event["id"] + call_id, "sip_call_id": call_id})
            assert answer.status_code == 200
        call = db.session.query(Call).filter_by(sip_call_id=call_id).one()
        assert call.state == "ringing" and call.lat == -1.265 and call.location_accuracy_m == 30
        assert call.location_ref == "https://lis.example/loc/77"
    located = db.session.query(TimelineEvent).filter_by(kind="call_located").count()
    assert located == 1  # the copy that came second filled in the location; the first had it already


def test_an_entry_the_centre_refused_is_an_alert_until_redelivered(agent_client: FlaskClient) -> None:
    refused = {"id": "r1", "seq": 3, "kind": "invite", "at": "2026-11-24T01:00:00+00:00", "payload": {**INVITE}}
    aside = {"id": "s1", "kind": "set_aside", "entry": refused, "reason_text": "400 sip_call_id: too long"}
    assert post(agent_client, aside).status_code == post(agent_client, aside).status_code == 200
    taker = _call_taker()
    alerts = agent_client.get("/api/v1/intake-failures", headers=taker).get_json()
    assert len(alerts) == 1 and alerts[0]["phone"] == "+6281234567890" and alerts[0]["kind"] == "invite"
    assert alerts[0]["received_at"].startswith("2026-11-24T01:00:00") and "too long" in alerts[0]["reason"]
    again = post(agent_client, {"id": "r1", "kind": "invite", **INVITE, "redelivery": True} | {"id": "r1"})
    assert again.status_code == 200 and db.session.query(Call).count() == 1
    assert agent_client.get("/api/v1/intake-failures", headers=taker).get_json() == []


def test_a_call_taker_can_mark_an_unrecorded_call_handled(agent_client: FlaskClient) -> None:
    refused = {"id": "r2", "seq": 1, "kind": "invite", "at": "2026-11-24T01:00:00+00:00", "payload": {}}
    failure_id = post(
        agent_client, {"id": "s2", "kind": "set_aside", "entry": refused, "reason_text": "400"}
    ).get_json()["failure_id"]
    taker = _call_taker()
    done = agent_client.post(f"/api/v1/intake-failures/{failure_id}/resolve", headers=taker)
    assert done.status_code == 200 and done.get_json()["resolved_by"]
    assert agent_client.post("/api/v1/intake-failures/999/resolve", headers=taker).status_code == 404
    assert agent_client.get("/api/v1/intake-failures", headers=taker).get_json() == []
