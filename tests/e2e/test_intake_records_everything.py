"""Answered means recorded: a call whose headers pass every limit is on record, and an entry the
centre refuses is an alert on the consoles until `warroom sip redeliver` delivers it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import factories as f
import pytest
from live import INTAKE_TOKEN, AgentProcess, LiveCentre, sipp, wait_for

from cad.models import Role
from telephony.courier import Courier
from telephony.journal import SET_ASIDE, Journal

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


def test_a_call_with_headers_longer_than_every_column_is_answered_and_on_record(
    live_centre: LiveCentre, sip_agent: AgentProcess
) -> None:
    name = "Ibu Siti Rahmawati " * 16  # 304 characters; the column holds 120
    call_id_prefix = "carrier-" + "7" * 300 + "-"  # the column holds 255
    contact_params = ";".join(f"x-hop{i}=relay{i}.carrier.example" for i in range(12))
    pai = "0812" + "3" * 56  # 60 digits: no phone number, kept whole beside the call
    run = sipp(
        "call_long_headers.xml",
        f"127.0.0.1:{sip_agent.port}",
        keys={
            "phone": "081234567890",
            "caller_name": name,
            "contact_params": contact_params,
            "pai": pai,
            "hold_ms": "300",
        },
        extra=["-cid_str", call_id_prefix + "%u-%p@%s"],
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    token = f.api_token(Role.CALL_TAKER)

    def ended() -> list[dict[str, Any]]:
        return [c for c in live_centre.get("/api/v1/calls", token).json() if c["state"] == "abandoned"]

    call = wait_for(ended)[0]
    kept = call["sip_headers"]
    assert kept["sip_call_id"].startswith(call_id_prefix) and len(call["sip_call_id"]) <= 255
    assert kept["name"] == name.strip() and kept["phone"] == pai and contact_params in kept["contact"]
    assert call["caller_name"] and name.startswith(call["caller_name"].rstrip("…"))
    assert "refused" not in sip_agent.output()
    assert live_centre.get("/api/v1/intake-failures", token).json() == []
    assert not list((live_centre.instance / "sip-journal").glob("*/refused.jsonl"))


def test_an_entry_the_centre_refuses_is_alerted_and_redelivered_by_command(
    live_centre: LiveCentre, tmp_path: Path
) -> None:
    folder = tmp_path / "sip-journal" / "5999"
    journal = Journal(folder)
    courier = Courier(journal, f"{live_centre.url}/telephony/sip/events", INTAKE_TOKEN)
    courier.start()
    try:
        # an entry no centre version understands: refused for good, and the consoles hear of it
        journal.append("voicemail", {"phone": "+6281211112222", "received_at": datetime.now(UTC).isoformat()})
        # an invite an older centre refused: the agent's journal holds it aside, the alert is up
        invite = journal.append(
            "invite",
            {
                "sip_call_id": "refused-once@carrier",
                "phone": "+6281233334444",
                "name": "Pak Darto",
                "received_at": datetime.now(UTC).isoformat(),
                "location": {"lat": -1.2379, "lon": 116.8529, "accuracy_m": 20},
            },
        )
        journal.mark_delivered(invite.id)  # the courier must not send it: it was refused in the past
        journal.refuse(invite, "400 an older centre's limit")
        journal.append(SET_ASIDE, {"entry": json.loads(invite.to_json()), "reason_text": "400 an older centre's limit"})
        journal.append("end", {"sip_call_id": "refused-once@carrier", "ended_at": datetime.now(UTC).isoformat()})
        courier.notify()
        for role in (Role.CALL_TAKER, Role.DISPATCHER):
            alerts = wait_for(
                lambda r=role: (
                    _alerts(live_centre, f.api_token(r)) if len(_alerts(live_centre, f.api_token(r))) == 2 else None
                )
            )
            assert {a["phone"] for a in alerts} == {"+6281211112222", "+6281233334444"}
        wait_for(lambda: not journal.pending())
    finally:
        courier.stop()
        journal.close()
    with Journal(folder) as kept:
        assert [e.kind for e, _ in kept.refused()] == ["voicemail", "invite"]

    env = {
        **os.environ,
        "DATABASE_URL": str(live_centre.app.config["WARROOM"].database_url),
        "WARROOM_INSTANCE": str(tmp_path),
        "WARROOM_ROADS": "",
        "WARROOM_CENTRE_URL": live_centre.url,
        "WARROOM_INTAKE_TOKEN": INTAKE_TOKEN,
    }
    command = [sys.executable, "-m", "cad.cli", "sip", "redeliver"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 1, first.stdout + first.stderr  # the voicemail is still refused: said, not hidden
    assert "delivered: invite" in first.stdout and "STILL REFUSED: voicemail" in first.stdout
    token = f.api_token(Role.CALL_TAKER)
    calls = live_centre.get("/api/v1/calls", token).json()
    assert [(c["phone"], c["state"], c["location"]["lat"]) for c in calls] == [("+6281233334444", "abandoned", -1.2379)]
    assert [a["phone"] for a in _alerts(live_centre, token)] == ["+6281211112222"]
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert "1 refused entries sent again: 0 delivered, 1 still refused" in again.stdout


def _alerts(centre: LiveCentre, token: str) -> list[dict[str, Any]]:
    response = centre.get("/api/v1/intake-failures", token)
    assert response.status_code == 200
    return list(response.json())
