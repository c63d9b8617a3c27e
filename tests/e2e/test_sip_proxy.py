"""What Kamailio in front of the agents saves that a lone pjsua2 agent loses: INVITEs of up to
64 KB (pjsua2 drops or cuts anything over ~4,000 bytes), an INVITE whose only body is its PIDF-LO
(pjsua2 refuses it 415), and the allow-list, held by the proxy as a lone agent holds it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
from live import LiveCentre, PoolProcess, sipp, start_pool, wait_for
from requirements import need_tool
from sip_calls import PIDF_CIRCLE, calls_of

from cad.models import Role
from simulator.city import pidf_lo_polygon

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

CENTRE = (-1.2650, 116.8400)


@pytest.fixture
def pool(live_centre: LiveCentre) -> Iterator[PoolProcess]:
    need_tool("sipp")
    need_tool("kamailio")
    running = start_pool(live_centre.url, live_centre.instance, 2)
    assert "behind Kamailio" in running.output(), running.output()
    time.sleep(1.5)  # the proxy's first OPTIONS round has seen every worker
    yield running
    assert running.stop() == 0, running.output()[-3000:]


def logged(folder: Path, pattern: str) -> list[str]:
    return re.findall(pattern, "".join(p.read_text(errors="replace") for p in folder.glob("*_logs.log")))


def proxy_log(centre: LiveCentre) -> str:
    """Kamailio's log, without the base64 lines of the INVITEs it logged whole."""
    text = (centre.instance / "sip-pool" / "kamailio.log").read_text(errors="replace")
    return "\n".join(line for line in text.splitlines() if "WARROOM-" not in line)


def errors(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.glob("*_errors.log"))


@pytest.mark.parametrize("size", [8_000, 60_000])
@pytest.mark.parametrize("transport", ["u1", "t1"])
def test_a_big_invite_through_the_pool_is_answered_and_on_record_with_its_location(
    live_centre: LiveCentre, pool: PoolProcess, tmp_path: Path, size: int, transport: str
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    pidf = pidf_lo_polygon(*CENTRE, size - 700)  # the headers, SDP offer, multipart frame: ~700 bytes
    run = sipp(
        "call_routed_pidf.xml",
        f"127.0.0.1:{pool.port}",
        keys={"phone": "081600000064", "caller_name": "Besar", "hold_ms": "200", "pidf_body": pidf},
        extra=["-t", transport, "-trace_logs", "-trace_msg"],
        cwd=tmp_path,
        timeout_s=20,
    )
    sent = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*_messages.log"))
    invite = re.search(r"INVITE sip:112.*?Content-Length: *(\d+)", sent, re.S)
    assert invite and size - 1000 < int(invite.group(1)) < size  # the INVITE really was that big
    assert run.returncode == 0, errors(tmp_path)[-2000:] + proxy_log(live_centre)[-3000:]
    answered = logged(tmp_path, r"ANSWERED (\S+)")
    assert len(answered) == 1
    call = wait_for(
        lambda: [c for c in calls_of(live_centre, token) if c["sip_call_id"] == answered[0] and c["location"]],
        timeout_s=10,
    )[0]
    assert call["location"]["lat"] == pytest.approx(CENTRE[0], abs=1e-5)
    assert call["location"]["lon"] == pytest.approx(CENTRE[1], abs=1e-5)
    assert call["location"]["source"] == "pidf-lo" and call["phone"] == "+6281600000064"
    ended = wait_for(lambda: [c for c in calls_of(live_centre, token) if c["state"] == "abandoned"], timeout_s=10)
    assert [c["sip_call_id"] for c in ended] == answered  # one call, its two reports merged
    assert "unreadable" not in pool.output() and "Geolocation" not in pool.worker_log(0) + pool.worker_log(1)


def test_an_invite_whose_only_body_is_its_pidf_lo_is_answered_with_an_offer_and_located(
    live_centre: LiveCentre, pool: PoolProcess, tmp_path: Path
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    run = sipp(
        "call_pidf_only.xml",
        f"127.0.0.1:{pool.port}",
        keys={"phone": "081600000415", "caller_name": "Tanpa SDP", "hold_ms": "200", "pidf_body": PIDF_CIRCLE},
        extra=["-trace_logs"],
        cwd=tmp_path,
        timeout_s=20,
    )
    assert run.returncode == 0, errors(tmp_path)[-2000:] + run.stdout[-1000:]
    answered = logged(tmp_path, r"ANSWERED (\S+) m=audio \d+ RTP/AVP")  # the agent made the offer in its 200
    assert len(answered) == 1
    try:
        call = wait_for(
            lambda: [c for c in calls_of(live_centre, token) if c["state"] == "abandoned" and c["location"]],
            timeout_s=20,
        )[0]
    except AssertionError:
        # the location comes from the proxy's log (telephony/turned_away.py): say what reached it and what not
        kamailio = (live_centre.instance / "sip-pool" / "kamailio.log").read_text(errors="replace")
        raise AssertionError(
            f"calls on record: {calls_of(live_centre, token)}\n"
            f"INVITE slices the proxy logged whole: {kamailio.count('WARROOM-WHOLE-INVITE ')}\n"
            f"the pool: {pool.output()[-3000:]}\nthe proxy: {proxy_log(live_centre)[-2000:]}"
        ) from None
    assert call["sip_call_id"] == answered[0] and call["caller_name"] == "Tanpa SDP"
    assert call["location"] == {"lat": -1.265, "lon": 116.84, "accuracy_m": 35.0, "source": "pidf-lo"}


def test_a_source_outside_the_allow_list_is_refused_403_by_the_proxy_and_nothing_is_recorded(
    live_centre: LiveCentre, pool: PoolProcess, tmp_path: Path
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    outside = tmp_path / "outside"
    outside.mkdir()
    run = sipp(
        "refused.xml",
        f"127.0.0.1:{pool.port}",
        keys={"phone": "081600000403", "caller_name": "Asing"},
        extra=["-trace_logs"],
        cwd=outside,
        local_ip="127.0.0.2",
        timeout_s=15,
    )
    assert run.returncode == 0, errors(outside)[-2000:] + run.stdout[-1000:]
    assert len(logged(outside, r"INVITE REFUSED 403")) == 1 and len(logged(outside, r"MESSAGE REFUSED 403")) == 1
    assert "refused 403: not in WARROOM_SIP_ALLOW" in (live_centre.instance / "sip-pool" / "kamailio.log").read_text()
    # the same call from an allowed address goes through, and only it is on record
    inside = tmp_path / "inside"
    inside.mkdir()
    allowed = sipp(
        "call_routed.xml",
        f"127.0.0.1:{pool.port}",
        keys={"phone": "081600000200", "caller_name": "Dalam", "hold_ms": "100"},
        extra=["-trace_logs"],
        cwd=inside,
        timeout_s=15,
    )
    assert allowed.returncode == 0 and len(logged(inside, r"ANSWERED (\S+)")) == 1
    calls = wait_for(lambda: calls_of(live_centre, token), timeout_s=10)
    assert [c["caller_name"] for c in calls] == ["Dalam"]
    assert pool.worker_log(0).count("refused") + pool.worker_log(1).count("refused") == 0  # the proxy refused them


def test_a_call_reaching_the_proxy_on_another_address_is_offered_to_the_agents_from_loopback(
    live_centre: LiveCentre, tmp_path: Path
) -> None:
    """The centre listens on an address of its own (a carrier-facing interface: here 127.0.0.2) and
    allows only the carrier (127.0.0.3). Kamailio still offers the call to the agents from 127.0.0.1,
    so the agents' own allow-list holds and the call is answered and on record."""
    need_tool("sipp")
    need_tool("kamailio")
    pool = start_pool(
        live_centre.url,
        live_centre.instance,
        1,
        bind="127.0.0.2",
        extra_env={"WARROOM_SIP_ALLOW": "127.0.0.3"},
    )
    try:
        cfg = (live_centre.instance / "sip-pool" / "kamailio.cfg").read_text()
        assert f"listen=udp:127.0.0.2:{pool.port}" in cfg and f"listen=udp:127.0.0.1:{pool.port}" in cfg
        time.sleep(1.5)  # the proxy's first OPTIONS round has seen the worker
        run = sipp(
            "call_routed.xml",
            f"127.0.0.2:{pool.port}",
            keys={"phone": "081600000222", "caller_name": "Operator", "hold_ms": "100"},
            extra=["-trace_logs"],
            cwd=tmp_path,
            local_ip="127.0.0.3",
            timeout_s=15,
        )
        assert run.returncode == 0, errors(tmp_path)[-2000:] + run.stdout[-1000:]
        token = f.api_token(Role.CALL_TAKER)
        calls = wait_for(lambda: [c for c in calls_of(live_centre, token) if c["state"] == "abandoned"], timeout_s=10)
        assert [c["caller_name"] for c in calls] == ["Operator"]
        assert "refused" not in pool.worker_log(0)
    finally:
        assert pool.stop() == 0, pool.output()[-3000:]
