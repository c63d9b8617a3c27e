"""What the SIP end-to-end tests share: the calls on record, where sipp sends, what sipp logged, a
PIDF-LO circle, and a text over SIP answered by a reply."""

from __future__ import annotations

import re
from pathlib import Path

from live import AgentProcess, LiveCentre, sipp, wait_for

PIDF_CIRCLE = """<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"
    xmlns:gml="http://www.opengis.net/gml" xmlns:gs="http://www.opengis.net/pidflo/1.0"
    entity="pres:caller@example.com">
  <tuple id="loc1">
    <status><gp:geopriv><gp:location-info>
      <gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">
        <gml:pos>-1.2650 116.8400</gml:pos>
        <gs:radius uom="urn:ogc:def:uom:EPSG::9001">35</gs:radius>
      </gs:Circle>
    </gp:location-info><gp:usage-rules/><gp:method>GPS</gp:method></gp:geopriv></status>
    <timestamp>2026-11-24T01:00:00Z</timestamp>
  </tuple>
</presence>"""


def calls_of(centre: LiveCentre, token: str, limit: int = 100) -> list[dict]:
    response = centre.get(f"/api/v1/calls?limit={limit}", token)
    assert response.status_code == 200
    return response.json()


def target(agent: AgentProcess) -> str:
    return f"127.0.0.1:{agent.port}"


def sipp_log(folder: Path) -> str:
    """What the routed scenario logged: ANSWERED / SHED 503 / MOVED 302 lines with Call-IDs."""
    return "".join(p.read_text(errors="replace") for p in folder.glob("call_routed_*_logs.log"))


def errors_of(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.glob("call_routed_*_errors.log"))


def answered(folder: Path) -> set[str]:
    return set(re.findall(r"ANSWERED (\S+)", sipp_log(folder)))


def texted_from_its_own_port(centre: LiveCentre, agent: AgentProcess, token: str, phone: str, extra: list[str]) -> dict:
    """A phone's MESSAGE from its own port, no Contact; the conversation it opened."""
    run = sipp(
        "message_no_contact.xml",
        target(agent),
        keys={"phone": phone, "caller_name": "Tuli", "text": "Tolong, ada yang pingsan"},
        extra=extra,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    return wait_for(lambda: [c for c in calls_of(centre, token) if c["phone"].endswith(phone[1:])])[0]


def reply_outcome(centre: LiveCentre, token: str, call_id: int, body: str) -> str:
    """The status a reply settles at once sent (`sent`, `failed`, …)."""
    sent = centre.post(f"/api/v1/calls/{call_id}/messages", token, json={"body": body})
    assert sent.status_code == 201, sent.text
    # the answer reads the row after its commit: the agent's long poll, woken by that commit, may
    # already have claimed it (`sending`); it is never settled before the phone has answered
    assert sent.json()["status"] in ("queued", "sending"), sent.json()
    settled = wait_for(
        lambda: [
            m["status"]
            for m in centre.get(f"/api/v1/calls/{call_id}/messages", token).json()
            if m["direction"] == "out" and m["status"] not in ("queued", "sending")
        ],
        timeout_s=20,
    )
    return str(settled[0])
