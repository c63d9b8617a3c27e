"""Each RFC 5491 shape sent by sipp in a real INVITE, through the pjsua2 agent, onto the call on
record, where it must sit where the independent geometry of `pidf_shapes` puts it; and a
location sent by reference reaches the agent's journal without a warning."""

from __future__ import annotations

import json
import re

import factories as f
import pytest
from live import SIPP_DIR, AgentProcess, LiveCentre, sipp, wait_for
from pidf_shapes import (
    MALL,
    RFC_HEXAGON,
    TOWER,
    arc_band,
    assert_holds,
    ellipsoid,
    expected_arc_band,
    expected_circle,
    expected_ellipse,
    expected_polygon,
    polygon_3d,
    prism,
    sphere,
)
from sip_calls import calls_of, target

from cad.models import Role

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

#: pjsua2 drops a UDP INVITE over about 4,000 bytes; bigger ones are another change's work.
MAX_INVITE_BYTES = 3_500

SHAPES = {
    "081300000001": ("arcband", arc_band(*TOWER, 1500, 2050, 266, 120),
                     expected_arc_band(*TOWER, 1500, 2050, 266, 120)),
    "081300000002": ("prism", prism(MALL, 12.0, 20.0), expected_polygon(MALL)),
    "081300000003": ("polygon 3D, srsDimension", polygon_3d(RFC_HEXAGON, 2.3, "3"), expected_polygon(RFC_HEXAGON)),
    "081300000004": ("polygon 3D, EPSG::4979", polygon_3d(MALL, 12.0, None), expected_polygon(MALL)),
    "081300000005": ("ellipsoid", ellipsoid(-5.1401, 119.4202, 30, 120, 40, 15, 35),
                     expected_ellipse(-5.1401, 119.4202, 120, 40, 35)),
    "081300000006": ("sphere", sphere(-5.14, 119.42, 26, 850.24), expected_circle(-5.14, 119.42, 850.24)),
}  # fmt: skip


def invite_size(pidf: str) -> int:
    """The INVITE call_pidf.xml sends, with every placeholder given a value as long as sipp's."""
    template = (SIPP_DIR / "call_pidf.xml").read_text()
    invite = template.split("<![CDATA[", 1)[1].split("]]>", 1)[0].strip()
    invite = invite.replace("[pidf_body]", pidf)
    invite = re.sub(r"\[call_id\]", "1-12345@127.0.0.1", invite)
    invite = re.sub(r"\[(?:remote_ip|local_ip|media_ip)\]", "127.0.0.1", invite)
    invite = re.sub(r"\[[a-z_]+\]", "0000000000000", invite)  # ports, branch, phone, name, lengths
    return len(invite.replace("\n", "\r\n").encode())


def test_each_shape_reaches_the_call_on_record_where_it_belongs(
    live_centre: LiveCentre, sip_agent: AgentProcess
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    for phone, (name, pidf, _) in SHAPES.items():
        assert invite_size(pidf) < MAX_INVITE_BYTES, name
        run = sipp(
            "call_pidf.xml",
            target(sip_agent),
            keys={"phone": phone, "caller_name": name, "hold_ms": "100", "pidf_body": pidf},
        )
        assert run.returncode == 0, f"{name}: {run.stdout[-2000:]}"

    def all_located() -> dict[str, dict] | None:
        calls = {c["phone"]: c for c in calls_of(live_centre, token) if c["location"]}
        return calls if len(calls) == len(SHAPES) else None

    calls = wait_for(all_located)
    for phone, (name, _, expected) in SHAPES.items():
        location = calls["+62" + phone[1:]]["location"]
        assert location["source"] == "pidf-lo", name
        assert_holds(location["lat"], location["lon"], location["accuracy_m"], expected)
    assert "unreadable" not in sip_agent.output() and "malformed" not in sip_agent.output()


def test_a_location_by_reference_is_on_the_call_and_is_no_warning(
    live_centre: LiveCentre, sip_agent: AgentProcess
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    reference = "https://lis.telco.example/location/8f3a2c?ttl=300"
    run = sipp(
        "call_location_ref.xml",
        target(sip_agent),
        keys={"phone": "081300000009", "caller_name": "Rujukan", "hold_ms": "100", "location_ref": reference},
    )
    assert run.returncode == 0, run.stdout[-2000:]
    call = wait_for(lambda: [c for c in calls_of(live_centre, token) if c["state"] == "abandoned"])[0]
    assert call["phone"] == "+6281300000009" and call["location"] is None
    assert call["location_ref"] == reference  # what the call-taker's console shows as "Lokasi lewat rujukan"
    journal = live_centre.instance / "sip-journal" / str(sip_agent.port) / "journal.jsonl"
    invites = [json.loads(line) for line in journal.read_text().splitlines()]
    invites = [entry["payload"] for entry in invites if entry["kind"] == "invite"]
    assert [payload["location_ref"] for payload in invites] == [reference]
    assert invites[0]["location_warning"] is None
    assert "unreadable" not in sip_agent.output()
