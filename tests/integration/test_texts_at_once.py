"""Texts that reach the centre at the same moment, over real HTTP to a threaded server: one
number's burst is one conversation and one incident, one MessageSid retried at once is stored
once and every retry gets the same answer."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fake_twilio import SMS_PATH, signed_sms
from live import INTAKE_TOKEN, LiveCentre, serve_centre

from cad.db import db
from cad.models import Call, Caller, Incident, Message

AUTH_TOKEN = "twilio-at-once"
PUBLIC = "https://centre.example.id"
SENDERS = 10


@pytest.fixture
def centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    yield from serve_centre(database_url, tmp_path, TWILIO_AUTH_TOKEN=AUTH_TOKEN, WARROOM_PUBLIC_URL=PUBLIC)


def at_once(count: int, send: Callable[[int], requests.Response]) -> list[requests.Response]:
    """`send(i)` from `count` threads released together; the answers in thread order."""
    start = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            answers[i] = send(i)
        except requests.RequestException as error:  # kept, so the assertion shows it
            answers[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def twilio_sms(centre: LiveCentre, sid: str, sender: str, body: str) -> requests.Response:
    """Posted over HTTP as Twilio posts it, signed with Twilio's own validator for the public URL."""
    data, headers = signed_sms(body, sid, sender, sign_with=AUTH_TOKEN, url=PUBLIC + SMS_PATH)
    return requests.post(centre.url + SMS_PATH, data=data, headers=headers, timeout=60)


def sip_text(centre: LiveCentre, external_id: str, sender: str, body: str) -> requests.Response:
    """A SIP MESSAGE as the agent's courier delivers it from its journal."""
    return requests.post(
        centre.url + "/telephony/sip/events",
        json={
            "id": uuid.uuid4().hex,
            "kind": "message",
            "external_id": external_id,
            "phone": sender,
            "body": body,
            "received_at": "2026-11-24T01:00:00+00:00",
            "contact": "sip:081377770000@127.0.0.1:35090",
        },
        headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
        timeout=60,
    )


def statuses(answers: list[Any]) -> list[object]:
    return [a.status_code if isinstance(a, requests.Response) else repr(a) for a in answers]


def stored() -> tuple[int, int, int]:
    """(calls, incidents, messages) as committed."""
    db.session.remove()
    return db.session.query(Call).count(), db.session.query(Incident).count(), db.session.query(Message).count()


def test_a_burst_of_sms_from_a_new_number_is_one_conversation_and_one_incident(centre: LiveCentre) -> None:
    answers = at_once(SENDERS, lambda i: twilio_sms(centre, f"SMBURST{i:02d}", "+6281355551111", f"Tolong {i}"))
    assert statuses(answers) == [200] * SENDERS
    assert stored() == (1, 1, SENDERS)
    number = db.session.query(Incident).one().number
    texts = sorted(a.text for a in answers)
    assert sum(f"nomor insiden {number}" in t for t in texts) == 1  # the first opened it
    assert sum(f"pesan Anda diterima (insiden {number})" in t for t in texts) == SENDERS - 1
    call = db.session.query(Call).one()
    assert call.incident_id is not None and call.caller.phone == "+6281355551111"


def test_concurrent_retries_of_one_message_sid_all_get_the_same_answer(centre: LiveCentre) -> None:
    retries = 24
    answers = at_once(retries, lambda _: twilio_sms(centre, "SMRETRY01", "+6281355552222", "Kebakaran di pasar"))
    assert statuses(answers) == [200] * retries
    assert len({a.text for a in answers}) == 1
    assert stored() == (1, 1, 1)
    assert db.session.query(Incident).one().number in answers[0].text


def test_retries_and_new_texts_mixed_at_once_stay_one_conversation(centre: LiveCentre) -> None:
    answers = at_once(16, lambda i: twilio_sms(centre, f"SMMIX{i % 4}", "+6281355553333", f"Banjir {i % 4}"))
    assert statuses(answers) == [200] * 16
    assert stored() == (1, 1, 4)
    by_sid: dict[int, set[str]] = {}
    for i, answer in enumerate(answers):
        by_sid.setdefault(i % 4, set()).add(answer.text)
    assert all(len(texts) == 1 for texts in by_sid.values())  # each MessageSid answered one way


def test_a_burst_of_sip_messages_from_a_new_number_is_one_conversation(centre: LiveCentre) -> None:
    answers = at_once(SENDERS, lambda i: sip_text(centre, f"sip:burst-{i}@phone:1", "081377770000", f"Tolong {i}"))
    assert statuses(answers) == [200] * SENDERS
    assert len({a.json()["call_id"] for a in answers}) == 1
    assert stored()[::2] == (1, SENDERS)
    assert db.session.query(Caller).filter_by(phone="+6281377770000").count() == 1


def test_one_sip_message_delivered_at_once_by_several_couriers_is_stored_once(centre: LiveCentre) -> None:
    answers = at_once(SENDERS, lambda _: sip_text(centre, "sip:same@phone:1", "081377779999", "Tolong"))
    assert statuses(answers) == [200] * SENDERS
    assert len({(a.json()["call_id"], a.json()["message_id"]) for a in answers}) == 1
    assert stored()[::2] == (1, 1)


def test_without_the_sender_held_a_retry_that_loses_the_race_is_still_answered_as_the_duplicate(
    centre: LiveCentre, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net under the per-number hold: the unique MessageSid conflict is the retry."""
    import cad.services.intake

    monkeypatch.setattr(cad.services.intake, "hold_sender", lambda session, phone: None)
    retries = 12
    answers = at_once(retries, lambda _: twilio_sms(centre, "SMRACE01", "+6281355554444", "Pohon tumbang"))
    assert statuses(answers) == [200] * retries
    assert len({a.text for a in answers}) == 1
    assert stored()[1:] == (1, 1)
