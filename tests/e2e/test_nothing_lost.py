"""Nothing is lost when the database or the centre is down: the SIP agent keeps answering and
journals, then replays; the SMS webhook and the GPS intake answer 503 so Twilio and the crew's
GPS client retry."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import factories as f
import requests
import sqlalchemy as sa
from live import AgentProcess, DisposablePostgres, LiveCentre, free_udp_port, sipp, start_agent, wait_for
from sip_calls import calls_of
from twilio.request_validator import RequestValidator

from cad.db import db
from cad.models import Position, Role


def _pending(centre: LiveCentre, agent: AgentProcess) -> int:
    folder = centre.instance / "sip-journal" / str(agent.port)
    entries = [json.loads(line)["id"] for line in (folder / "journal.jsonl").read_text().splitlines()]
    delivered = set((folder / "delivered.txt").read_text().split()) if (folder / "delivered.txt").exists() else set()
    return len([e for e in entries if e not in delivered])


def test_calls_during_a_database_outage_are_answered_journaled_and_replayed(
    stoppable_centre: LiveCentre, disposable_postgres: DisposablePostgres
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    agent = start_agent(stoppable_centre.url, stoppable_centre.instance, free_udp_port())
    try:
        disposable_postgres.stop()
        assert stoppable_centre.get("/api/v1/calls", token).status_code == 503
        run = sipp(
            "call.xml",
            f"127.0.0.1:{agent.port}",
            calls=3,
            rate=5,
            keys={"phone": "081255554444", "caller_name": "Saat DB mati", "hold_ms": "200"},
        )
        assert run.returncode == 0, run.stdout[-2000:]  # every caller was answered
        # 3 INVITEs and 3 hang-ups wait on disk
        assert wait_for(lambda: _pending(stoppable_centre, agent) == 6 or None, timeout_s=5) is True
        disposable_postgres.start()
        calls = wait_for(
            lambda: (lambda cs: cs if len(cs) == 3 and all(c["state"] == "abandoned" for c in cs) else None)(
                calls_of(stoppable_centre, token)
            ),
            timeout_s=30,
        )
        assert {c["caller_name"] for c in calls} == {"Saat DB mati"}
        assert wait_for(lambda: _pending(stoppable_centre, agent) == 0 or None, timeout_s=10) is True
    finally:
        disposable_postgres.start()
        assert agent.stop() == 0


def test_an_agent_restarted_while_the_centre_was_unreachable_replays_its_journal(stoppable_centre: LiveCentre) -> None:
    token = f.api_token(Role.CALL_TAKER)
    port = free_udp_port()
    nowhere = f"http://127.0.0.1:{free_udp_port()}"  # no centre listens there
    agent = start_agent(nowhere, stoppable_centre.instance, port)
    run = sipp(
        "call.xml", f"127.0.0.1:{port}", keys={"phone": "081266665555", "caller_name": "Jurnal", "hold_ms": "100"}
    )
    assert run.returncode == 0
    assert wait_for(lambda: _pending(stoppable_centre, agent) == 2 or None, timeout_s=5) is True
    assert agent.stop() == 0 and _pending(stoppable_centre, agent) == 2
    assert calls_of(stoppable_centre, token) == []
    again = start_agent(stoppable_centre.url, stoppable_centre.instance, port)
    try:
        call = wait_for(lambda: [c for c in calls_of(stoppable_centre, token) if c["state"] == "abandoned"])[0]
        assert call["caller_name"] == "Jurnal" and call["phone"] == "+6281266665555"
        assert "2 entries to replay" in again.output()
    finally:
        assert again.stop() == 0


def test_sms_during_a_database_outage_gets_503_and_the_retry_is_stored_once(
    stoppable_centre: LiveCentre, disposable_postgres: DisposablePostgres
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    form = {"MessageSid": "SMdown1", "From": "+6281277778888", "To": "+62112", "Body": "Banjir di Klandasan"}
    url = "https://centre.test/telephony/twilio/sms"
    signed = {
        "X-Twilio-Signature": RequestValidator("twilio-e2e").compute_signature(url, form),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    disposable_postgres.stop()
    try:
        down = requests.post(
            stoppable_centre.url + "/telephony/twilio/sms", data=urlencode(form), headers=signed, timeout=10
        )
        assert down.status_code == 503 and down.headers["Retry-After"]
    finally:
        disposable_postgres.start()
    for _ in range(2):  # Twilio retries; a duplicate retry must not double it
        up = requests.post(
            stoppable_centre.url + "/telephony/twilio/sms", data=urlencode(form), headers=signed, timeout=10
        )
        assert up.status_code == 200 and "nomor insiden" in up.text  # answered once stored
    calls = calls_of(stoppable_centre, token)
    assert len(calls) == 1
    chat = stoppable_centre.get(f"/api/v1/calls/{calls[0]['id']}/messages", token).json()
    assert [m["body"] for m in chat] == ["Banjir di Klandasan"]


def test_a_gps_fix_during_a_database_outage_gets_503_and_the_retry_is_stored_once(
    stoppable_centre: LiveCentre, disposable_postgres: DisposablePostgres
) -> None:
    unit = f.unit("DAMKAR-1", fix_age_s=600)
    unit_id, token = unit.id, f.device_token(unit)
    fix = {"id": token, "lat": -1.2651, "lon": 116.8401, "timestamp": int(time.time() * 1000) - 1000}
    assert requests.get(stoppable_centre.url + "/gps/osmand", params={**fix, "timestamp": fix["timestamp"] - 5000}).ok
    disposable_postgres.stop()
    try:
        down = requests.get(stoppable_centre.url + "/gps/osmand", params=fix, timeout=20)
        assert down.status_code == 503 and down.headers["Retry-After"] == "2"
        assert down.json()["error"]["code"] == "database_unavailable"
    finally:
        disposable_postgres.start()
    for _ in range(2):  # Traccar Client resends what was not taken; a repeat is not stored twice
        assert requests.get(stoppable_centre.url + "/gps/osmand", params=fix, timeout=20).status_code == 200
    moved = stoppable_centre.get(f"/api/v1/units/{unit_id}", f.api_token(Role.DISPATCHER)).json()
    assert (moved["position"]["lat"], moved["position"]["lon"]) == (-1.2651, 116.8401)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).where(Position.unit_id == unit_id)) == 2
