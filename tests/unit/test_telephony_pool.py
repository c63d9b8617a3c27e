"""Where a new 112 call goes in a pool of four-call pjsua2 agents, and how dead workers restart."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from telephony.pool import (
    PJSUA2_CALLS,
    Placement,
    PoolLayout,
    RestartPolicy,
    offered_as_pool_full,
    place_call,
)
from telephony.supervisor import (
    PoolConfig,
    dispatcher_entries,
    host_ipv4_addresses,
    proxy_addresses,
    render_kamailio,
)

P = Placement


@pytest.mark.parametrize("held", [0, 1, 2])
@pytest.mark.parametrize("behind_proxy", [True, False])
def test_a_worker_with_a_free_line_takes_the_call(held: int, behind_proxy: bool) -> None:
    assert place_call(held, behind_proxy=behind_proxy, pool_full=False, overflow="", queued=0) is P.TAKE


@pytest.mark.parametrize(
    ("behind_proxy", "pool_full", "overflow", "queued", "expected"),
    [
        (True, False, "", 0, P.HAND_ON),  # the proxy will try another worker
        (True, False, "sip:112@tetangga", 0, P.HAND_ON),  # other workers first, overflow last
        (True, True, "", 0, P.QUEUE),  # the whole pool is full: the reserved slot queues it
        (True, True, "sip:112@tetangga", 0, P.REDIRECT),
        (True, True, "", 1, P.HAND_ON),  # the reserved slot is taken: the proxy answers 503
        (False, False, "", 0, P.TURN_AWAY),  # on its own: nobody to hand on to, 503 and on record
        (False, True, "", 0, P.TURN_AWAY),  # never queued: the library would answer the next one 486
        (False, False, "sip:112@tetangga", 0, P.REDIRECT),
    ],
)
def test_a_full_worker_never_answers_busy(
    behind_proxy: bool, pool_full: bool, overflow: str, queued: int, expected: Placement
) -> None:
    held = PJSUA2_CALLS - 1 + queued
    placed = place_call(held, behind_proxy=behind_proxy, pool_full=pool_full, overflow=overflow, queued=queued)
    assert placed is expected


def test_the_library_limit_is_never_reached_by_a_queue() -> None:
    assert place_call(PJSUA2_CALLS, behind_proxy=True, pool_full=True, overflow="", queued=0) is P.HAND_ON
    assert place_call(PJSUA2_CALLS, behind_proxy=False, pool_full=False, overflow="", queued=0) is P.TURN_AWAY


INVITE = "INVITE sip:112@10.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.2\r\n{extra}Content-Length: {n}\r\n\r\n{body}"


@pytest.mark.parametrize(
    ("extra", "body", "expected"),
    [
        ("X-Warroom-Pool-Full: yes\r\n", "", True),
        ("x-warroom-pool-full:yes\r\n", "", True),
        ("", "", False),
        ("", "X-Warroom-Pool-Full: yes", False),  # in the body is not a header
        ("X-Warroom-Pool-Fuller: yes\r\n", "", False),
    ],
)
def test_the_proxy_says_the_pool_is_full_by_a_header(extra: str, body: str, expected: bool) -> None:
    raw = INVITE.format(extra=extra, n=len(body), body=body)
    assert offered_as_pool_full(raw) is expected
    assert offered_as_pool_full(raw.encode()) is expected


def test_a_dead_worker_restarts_at_once_and_a_crash_loop_backs_off_under_two_seconds() -> None:
    policy = RestartPolicy()
    assert policy.died(0, 100.0) == 0.0
    delays = [policy.died(0, 100.0 + i) for i in range(1, 8)]
    assert delays == sorted(delays) and delays[0] > 0 and max(delays) <= 1.0 < 2.0
    assert policy.restarts(0) == 8
    assert policy.died(1, 105.0) == 0.0  # workers are counted apart
    assert policy.died(0, 200.0) == 0.0  # a death long after the last starts afresh


def test_pool_ports_the_proxy_on_the_centre_port_workers_above_each_its_own_rtp_range() -> None:
    layout = PoolLayout(5060, 4)
    assert layout.worker_ports() == [5061, 5062, 5063, 5064]
    rtp = [layout.rtp_port(i) for i in range(4)]
    assert len(set(rtp)) == 4 and all(b - a >= layout.rtp_ports for a, b in itertools.pairwise(rtp))


def test_the_kamailio_configuration_is_rendered_with_ports_rates_and_overflow(tmp_path: Path) -> None:
    listing = tmp_path / "dispatcher.list"
    plain = render_kamailio(PoolConfig(PoolLayout(25060, 4), tmp_path), listing)
    assert not re.search(r"\{\{\w+\}\}", plain) and "listen=udp:127.0.0.1:25060" in plain and str(listing) in plain
    assert 'pl_check("pool", "TAILDROP", "80")' in plain and 'send_reply("503"' in plain
    moved = render_kamailio(PoolConfig(PoolLayout(25060, 4), tmp_path, overflow="sip:112@tetangga.id"), listing)
    assert "Contact: <sip:112@tetangga.id>" in moved and 'send_reply("302"' in moved


def test_the_proxy_listens_on_every_address_asked_and_offers_calls_from_loopback(tmp_path: Path) -> None:
    assert proxy_addresses("0.0.0.0", ["127.0.0.1", "192.0.2.2"]) == ["127.0.0.1", "192.0.2.2"]
    assert proxy_addresses("198.51.100.7") == ["127.0.0.1", "198.51.100.7"]
    assert proxy_addresses("127.0.0.1") == ["127.0.0.1"]
    assert "127.0.0.1" in host_ipv4_addresses()
    config = PoolConfig(PoolLayout(25060, 2), tmp_path, bind="0.0.0.0")
    text = render_kamailio(config, tmp_path / "dispatcher.list", ["127.0.0.1", "192.0.2.2"])
    for address in ("127.0.0.1", "192.0.2.2"):
        assert f"listen=udp:{address}:25060\nlisten=tcp:{address}:25060" in text
    assert "listen=udp:0.0.0.0" not in text
    assert dispatcher_entries(PoolLayout(25060, 2)).splitlines() == [
        "1 sip:127.0.0.1:25061 0 0 socket=udp:127.0.0.1:25060",
        "1 sip:127.0.0.1:25062 0 0 socket=udp:127.0.0.1:25060",
    ]


def _logged(marker: str, key: str, raw: bytes, slice_bytes: int = 4200) -> list[str]:
    """The lines kamailio.cfg's route LOG_WHOLE writes for one INVITE."""
    import base64

    return [
        f" 1(4242) WARNING: {{1 INVITE x}} <script>: {marker} {key} {at} {len(raw)} 10.0.0.7:5062 "
        + base64.b64encode(raw[at : at + slice_bytes]).decode()
        for at in range(0, len(raw), slice_bytes)
    ]


def test_the_slices_of_invites_logged_whole_are_put_back_together_even_interleaved() -> None:
    from telephony.turned_away import POOL_FULL, WHOLE_INVITE, LoggedInvite, Reassembly

    big = b"INVITE sip:112@centre SIP/2.0\r\nCall-ID: big\r\n\r\n" + b"x" * 60_000
    small = b"INVITE sip:112@centre SIP/2.0\r\nCall-ID: abc\r\n\r\n"
    lines = _logged(WHOLE_INVITE, "k1", big)
    lines.insert(3, _logged(POOL_FULL, "k2", small)[0])
    lines.insert(5, " 0(4242) WARNING: <script>: every SIP agent full or down")
    reassembly = Reassembly()
    found = [invite for line in lines if (invite := reassembly.feed(line)) is not None]
    assert found == [LoggedInvite(POOL_FULL, "10.0.0.7:5062", small), LoggedInvite(WHOLE_INVITE, "10.0.0.7:5062", big)]
    assert all(len(line) < 8192 for line in lines)  # one write() each: lines of two processes never mix


def test_a_torn_or_unreadable_logged_invite_is_dropped_not_misread() -> None:
    from telephony.turned_away import WHOLE_INVITE, Reassembly

    raw = b"INVITE sip:112@centre SIP/2.0\r\n\r\n" + b"y" * 9000
    first, _, third = _logged(WHOLE_INVITE, "k3", raw)
    reassembly = Reassembly()
    assert reassembly.feed(first) is None and reassembly.feed(third) is None  # a slice missing
    assert reassembly.feed(f"{WHOLE_INVITE} k4 0 10 10.0.0.7:5062 not*base64") is None
