"""Where a call-taker's reply to a SIP MESSAGE goes: the Contact, else back where it came from."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from telephony.screening import allowed_networks, reply_target, screen_message, source_host_port
from telephony.sip_message import parse_sip_request


def message(*headers: str, via: str = "SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bK1") -> str:
    lines = [
        "MESSAGE sip:112@10.0.0.1 SIP/2.0",
        f"Via: {via}",
        "From: <sip:081366667777@operator.example.id>;tag=1",
        "To: <sip:112@10.0.0.1>",
        "Call-ID: m1@10.1.2.3",
        "CSeq: 1 MESSAGE",
        *headers,
        "Content-Type: text/plain",
        "Content-Length: 6",
    ]
    return "\r\n".join(lines) + "\r\n\r\nTolong"


def target(raw: str, source: str, contact: str | None = None) -> str:
    return reply_target(parse_sip_request(raw), source, contact)


def test_without_a_contact_the_reply_goes_to_the_source_address_and_port_not_5060() -> None:
    assert target(message(), "10.1.2.3:35090") == "sip:081366667777@10.1.2.3:35090"


def test_the_contact_pjsua2_read_is_used_when_there_is_one() -> None:
    raw = message("Contact: <sip:0813@10.1.2.3:5070>")
    assert target(raw, "10.1.2.3:35090", "<sip:0813@10.1.2.3:5070>") == "<sip:0813@10.1.2.3:5070>"
    assert target(raw, "10.1.2.3:35090") == "sip:0813@10.1.2.3:5070"  # read from the header when pjsua2 gave none


def test_over_tcp_the_reply_says_so() -> None:
    raw = message(via="SIP/2.0/TCP 10.1.2.3:41000;branch=z9hG4bK2")
    assert target(raw, "10.1.2.3:41000") == "sip:081366667777@10.1.2.3:41000;transport=tcp"


def test_ipv6_sources_keep_their_brackets() -> None:
    assert target(message(), "[2001:db8::7]:35090") == "sip:081366667777@[2001:db8::7]:35090"
    assert source_host_port("2001:db8::7") == ("[2001:db8::7]", 5060)


@pytest.mark.parametrize(
    ("phone_via", "expected"),
    [
        ("SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bKa;received=203.0.113.9;rport=35090", "203.0.113.9:35090"),
        ("SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKa", "192.168.1.20:5062"),
        ("SIP/2.0/TCP 192.168.1.20;branch=z9hG4bKa;rport=41000", "192.168.1.20:41000;transport=tcp"),
    ],
)
def test_through_a_proxy_the_phone_is_its_own_via_as_the_proxy_saw_it(phone_via: str, expected: str) -> None:
    raw = message(via=f"SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKproxy, {phone_via}")
    assert target(raw, "127.0.0.1:5080") == f"sip:081366667777@{expected}"


def test_the_journal_payload_carries_the_reply_target() -> None:
    screened = screen_message(
        message(), "127.0.0.1:35090", allowed_networks(["127.0.0.1"]), datetime.now(UTC), "Tolong", ""
    )
    assert screened.status == 200 and screened.payload["contact"] == "sip:081366667777@127.0.0.1:35090"
