"""screen_invite: a location sent by reference (RFC 6442) is kept for the centre, and is not a warning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pidf_shapes import TOWER, arc_band

from telephony.screening import allowed_networks, screen_invite

NETWORKS = allowed_networks(["127.0.0.1"])
AT = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
REF = "https://lis.telco.example/loc/8f3a2c?ttl=300"


def invite(geolocation: list[str], pidf: str | None = None) -> str:
    head = [
        "INVITE sip:112@centre.test SIP/2.0",
        "Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1",
        "From: <sip:081234567890@127.0.0.1>;tag=1",
        "To: <sip:112@centre.test>",
        "Call-ID: ref-1@127.0.0.1",
        "CSeq: 1 INVITE",
        "Contact: <sip:081234567890@127.0.0.1:5062>",
        *(f"Geolocation: <{uri}>" for uri in geolocation),
    ]
    if pidf is None:
        body = "v=0\r\n"
        head += ["Content-Type: application/sdp", f"Content-Length: {len(body)}"]
    else:
        body = (
            "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"
            f"--b1\r\nContent-Type: application/pidf+xml\r\nContent-ID: <loc@caller>\r\n\r\n{pidf}\r\n--b1--\r\n"
        )
        head += ["Content-Type: multipart/mixed; boundary=b1", f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(head) + "\r\n\r\n" + body


@pytest.mark.parametrize("uri", [REF, "http://lis.example/loc/1", "sips:loc-7@lis.example"])
def test_a_location_by_reference_is_kept_and_is_no_warning(uri: str) -> None:
    screened = screen_invite(invite([uri]), "127.0.0.1:5062", NETWORKS, AT)
    assert screened.status == 200
    assert screened.payload["location_ref"] == uri
    assert screened.payload["location"] is None
    assert screened.warning is None and screened.payload["location_warning"] is None


def test_a_location_by_value_has_no_reference() -> None:
    screened = screen_invite(
        invite(["cid:loc@caller"], arc_band(*TOWER, 1500, 2050, 266, 120)), "127.0.0.1", NETWORKS, AT
    )
    assert screened.payload["location_ref"] is None
    assert screened.payload["location"]["accuracy_m"] > 0 and screened.warning is None


def test_no_geolocation_at_all_has_no_reference() -> None:
    screened = screen_invite(invite([]), "127.0.0.1", NETWORKS, AT)
    assert screened.payload["location_ref"] is None and screened.warning is None


def test_both_a_reference_and_a_value_keep_both() -> None:
    raw = invite(["cid:loc@caller", REF, "https://second.example/loc"], arc_band(*TOWER, 1500, 2050, 266, 120))
    screened = screen_invite(raw, "127.0.0.1", NETWORKS, AT)
    assert screened.payload["location_ref"] == REF  # the first reference
    assert screened.payload["location"] is not None and screened.warning is None


def test_a_missing_body_named_by_cid_is_still_unreadable_and_the_reference_is_kept() -> None:
    screened = screen_invite(invite([REF, "cid:loc@caller"]), "127.0.0.1", NETWORKS, AT)
    assert screened.payload["location_ref"] == REF
    assert screened.warning is not None
    assert screened.warning.startswith("Geolocation cid:loc@caller unreadable (no PIDF-LO body)")
    assert screened.payload["location_warning"] == screened.warning
