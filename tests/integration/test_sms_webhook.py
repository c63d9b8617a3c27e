"""Twilio's inbound-SMS webhook: signatures, retries, conversations, TwiML, AML locations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
from fake_twilio import PUBLIC, SMS_PATH, TWILIO_AUTH_TOKEN, FakeTwilio, sms
from flask.testing import FlaskClient
from live import client_with
from twilio.request_validator import RequestValidator

from cad.db import db
from cad.models import Call, Caller, Incident, Message, Role

AUTH_TOKEN = TWILIO_AUTH_TOKEN
URL = SMS_PATH


def test_first_sms_opens_an_incident_and_is_acknowledged_in_indonesian(sms_client: FlaskClient) -> None:
    response = sms(sms_client, "Tolong, ada kebakaran di Jl. Veteran", "SM001")
    assert response.status_code == 200 and response.mimetype == "text/xml"
    text = response.get_data(as_text=True)
    incident = db.session.query(Incident).one()
    assert f"nomor insiden {incident.number}" in text and "<Response><Message>" in text
    assert incident.type == "lainnya" and incident.description.startswith("SMS: Tolong")
    call = db.session.query(Call).one()
    assert call.channel == "sms" and call.incident_id == incident.id and call.caller.phone == "+6281234567890"


def test_twilio_retry_is_stored_once_and_answered_the_same(sms_client: FlaskClient) -> None:
    first = sms(sms_client, "Banjir setinggi lutut", "SM002")
    again = sms(sms_client, "Banjir setinggi lutut", "SM002")
    assert again.status_code == 200
    assert db.session.query(Message).count() == 1 and db.session.query(Incident).count() == 1
    number = db.session.query(Incident).one().number
    assert number in first.get_data(as_text=True) and number in again.get_data(as_text=True)


def test_messages_from_one_number_make_one_conversation(sms_client: FlaskClient) -> None:
    sms(sms_client, "Ada kecelakaan", "SM010")
    reply = sms(sms_client, "Di depan Pasar Klandasan", "SM011")
    sms(sms_client, "Orang lain melapor", "SM012", sender="+6281399990000")
    assert db.session.query(Call).count() == 2 and db.session.query(Incident).count() == 2
    first = db.session.query(Call).filter(Call.caller.has(phone="+6281234567890")).one()
    assert [m.body for m in db.session.query(Message).filter_by(call_id=first.id).order_by(Message.id)] == [
        "Ada kecelakaan",
        "Di depan Pasar Klandasan",
    ]
    assert "pesan Anda diterima" in reply.get_data(as_text=True)
    _, headers = f.user(Role.CALL_TAKER)
    chat = sms_client.get(f"/api/v1/calls/{first.id}/messages", headers=headers).get_json()
    assert [m["direction"] for m in chat] == ["in", "in"]


def test_aml_attaches_the_handset_location_and_is_never_chat(sms_client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    call = sms_client.post("/api/v1/calls", json={"phone": "+6281234567890"}, headers=headers).get_json()
    aml = (
        'A"ML=1;lt=-1.26512;lg=+116.84033;rd=12;top=20261124010203;lc=68;pm=G;'
        "si=510101234567890;ei=356708041746734;mcc=510;mnc=10;ml=122"
    )
    response = sms(sms_client, aml, "SM020")
    assert response.status_code == 200 and "<Message>" not in response.get_data(as_text=True)
    located = sms_client.get(f"/api/v1/calls/{call['id']}", headers=headers).get_json()
    assert located["location"] == {"lat": -1.26512, "lon": 116.84033, "accuracy_m": 12.0, "source": "aml"}
    assert sms_client.get(f"/api/v1/calls/{call['id']}/messages", headers=headers).get_json() == []
    assert db.session.query(Incident).count() == 0  # a location report opens no incident
    assert sms(sms_client, aml, "SM020").status_code == 200  # retried: still one record
    assert db.session.query(Message).filter_by(kind="aml").count() == 1


def test_aml_after_the_text_places_the_incident_the_text_opened(sms_client: FlaskClient) -> None:
    sms(sms_client, "Tolong, rumah terbakar", "SM040")
    aml = 'A"ML=1;lt=-1.26512;lg=+116.84033;rd=12;top=20261124010203;lc=68;pm=G;'
    assert sms(sms_client, aml, "SM041").status_code == 200
    db.session.expire_all()
    incident = db.session.query(Incident).one()
    assert (incident.lat, incident.lon, incident.location_accuracy_m, incident.location_source) == (
        -1.26512,
        116.84033,
        12.0,
        "aml",
    )
    later = 'A"ML=1;lt=-1.27000;lg=+116.85000;rd=30;top=20261124010300;lc=68;pm=G;'
    assert sms(sms_client, later, "SM042").status_code == 200
    db.session.expire_all()
    assert db.session.query(Incident).one().lat == -1.26512  # a placed incident moves only by a person


def test_texts_and_aml_from_a_new_number_at_the_same_moment_make_one_caller(sms_client: FlaskClient) -> None:
    app, start, codes = sms_client.application, threading.Barrier(6), []
    aml = 'A"ML=1;lt=-1.26512;lg=+116.84033;rd=12;top=20261124010203;lc=68;pm=G;'

    def send(i: int) -> None:
        client = app.test_client()
        start.wait()
        codes.append(sms(client, aml if i % 2 else f"Tolong {i}", f"SM05{i}", sender="+6281355550000").status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert codes == [200] * 6
    db.session.expire_all()
    assert db.session.query(Caller).filter_by(phone="+6281355550000").count() == 1


def test_aml_without_a_fix_and_malformed_aml_are_kept_without_location(sms_client: FlaskClient) -> None:
    assert sms(sms_client, 'A"ML=1;pm=N;top=20261124010203', "SM030").status_code == 200
    assert sms(sms_client, 'A"ML=1;lt=999;lg=1;pm=G', "SM031").status_code == 200
    assert db.session.query(Message).filter_by(kind="aml").count() == 2
    assert db.session.query(Call).one().lat is None


@pytest.mark.parametrize("tamper", ["token", "url", "body", "missing"])
def test_bad_signatures_are_403(sms_client: FlaskClient, tamper: str) -> None:
    form = {"MessageSid": "SM040", "From": "+6281234567890", "Body": "halo"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + URL, form)
    if tamper == "token":
        signature = RequestValidator("other-token").compute_signature(PUBLIC + URL, form)
    elif tamper == "url":
        signature = RequestValidator(AUTH_TOKEN).compute_signature("https://evil.example" + URL, form)
    elif tamper == "body":
        form["Body"] = "halo!"
    headers = {} if tamper == "missing" else {"X-Twilio-Signature": signature}
    response = sms_client.post(URL, data=form, headers=headers)
    assert response.status_code == 403
    assert response.get_json()["error"]["field"] == "X-Twilio-Signature"
    assert db.session.query(Message).count() == 0


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"From": "+6281234567890", "Body": "x"}, "MessageSid"),
        ({"MessageSid": "SM050", "Body": "x"}, "From"),
        ({"MessageSid": "SM051", "From": "not-a-number", "Body": "x"}, "From"),
        ({"MessageSid": "SM052", "From": "+6281234567890", "Body": "x" * 1601}, "Body"),
    ],
)
def test_malformed_webhooks_are_400_naming_the_field(sms_client: FlaskClient, form: dict, field: str) -> None:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + URL, form)
    response = sms_client.post(URL, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field
    assert db.session.query(Message).count() == 0 and db.session.query(Incident).count() == 0


def test_hostile_text_is_stored_as_text_and_escaped_in_twiml(sms_client: FlaskClient) -> None:
    body = "<script>alert(1)</script> ]]> &amp; ' \" \u0000"
    response = sms(sms_client, body, "SM060")
    assert response.status_code == 200
    assert "<script>" not in response.get_data(as_text=True)
    assert db.session.query(Message).one().body == body.replace("\u0000", "\ufffd")


def test_without_an_auth_token_every_webhook_is_refused(client: FlaskClient) -> None:
    response = client.post(
        URL,
        data={"MessageSid": "SM1", "From": "+6281234567890", "Body": "x"},
        headers={"X-Twilio-Signature": "anything"},
    )
    assert response.status_code == 403 and "TWILIO_AUTH_TOKEN" in response.get_json()["error"]["message"]


@pytest.fixture
def sending_client(database_url: str, tmp_path: Path, twilio_api: FakeTwilio) -> Iterator[FlaskClient]:
    yield from client_with(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": "",
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": twilio_api.account_sid,
            "TWILIO_FROM": "+62811112",
            "TWILIO_API_URL": twilio_api.url,
            "WARROOM_PUBLIC_URL": PUBLIC,
        }
    )


def test_a_reply_goes_out_through_twilios_rest_api(sending_client: FlaskClient, twilio_api: FakeTwilio) -> None:
    sms(sending_client, "Ada pohon tumbang", "SM070")
    call = db.session.query(Call).one()
    _, headers = f.user(Role.CALL_TAKER)
    response = sending_client.post(
        f"/api/v1/calls/{call.id}/messages", json={"body": "Petugas sedang menuju."}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["status"] == "queued" and response.get_json()["direction"] == "out"
    assert twilio_api.sent == [{"To": "+6281234567890", "From": "+62811112", "Body": "Petugas sedang menuju."}]
    stored = db.session.query(Message).filter_by(direction="out").one()
    assert stored.external_id and stored.external_id.startswith("SM")
    chat = sending_client.get(f"/api/v1/calls/{call.id}/messages", headers=headers).get_json()
    assert [m["direction"] for m in chat] == ["in", "out"]


def test_replying_takes_the_conversation_it_stops_ringing(sending_client: FlaskClient, twilio_api: FakeTwilio) -> None:
    """A text conversation rings for every call-taker until one has it: the first reply answers it
    (a second call-taker's answer is then refused, naming the state)."""
    sms(sending_client, "Ada orang pingsan", "SM075")
    call = db.session.query(Call).one()
    assert call.state == "ringing"
    first, headers = f.user(Role.CALL_TAKER)
    response = sending_client.post(f"/api/v1/calls/{call.id}/messages", json={"body": "Di mana?"}, headers=headers)
    assert response.status_code == 201, response.get_json()
    shown = sending_client.get(f"/api/v1/calls/{call.id}", headers=headers).get_json()
    assert shown["state"] == "answered" and shown["answered_at"] is not None
    ringing = sending_client.get("/api/v1/calls?state=ringing", headers=headers).get_json()
    assert ringing == []
    _, other = f.user(Role.CALL_TAKER)
    late = sending_client.post(f"/api/v1/calls/{call.id}/answer", headers=other)
    assert late.status_code == 409 and late.get_json()["error"]["field"] == "state"
    again = sending_client.post(f"/api/v1/calls/{call.id}/messages", json={"body": "Tunggu"}, headers=headers)
    assert again.status_code == 201  # a second reply keeps it answered
    db.session.expire_all()
    assert db.session.get(Call, call.id).answered_by_id == first.id


def test_a_reply_twilio_refuses_is_kept_as_failed(sending_client: FlaskClient, twilio_api: FakeTwilio) -> None:
    twilio_api.fail_to.add("+6281234567890")
    sms(sending_client, "Halo", "SM080")
    call = db.session.query(Call).one()
    _, headers = f.user(Role.CALL_TAKER)
    response = sending_client.post(f"/api/v1/calls/{call.id}/messages", json={"body": "Balasan"}, headers=headers)
    assert response.status_code == 201 and response.get_json()["status"] == "failed"
    assert db.session.query(Message).filter_by(direction="out", status="failed").count() == 1


def test_no_reply_into_a_voice_call(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    call = client.post("/api/v1/calls", json={"phone": "081234567890"}, headers=headers).get_json()
    response = client.post(f"/api/v1/calls/{call['id']}/messages", json={"body": "x"}, headers=headers)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "call_id"
