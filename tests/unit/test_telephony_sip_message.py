"""Raw SIP requests: caller number, Geolocation, multipart bodies with PIDF-LO, malformed and hostile input."""

from __future__ import annotations

import time

import pytest

from telephony.pidf_lo import parse_pidf_lo
from telephony.sip_message import (
    MAX_SIP_BYTES,
    MalformedSipMessage,
    SipRequest,
    find_pidf,
    parse_sip_request,
    request_target_user,
)

SDP = (
    "v=0\r\no=- 3912 3912 IN IP4 10.20.0.15\r\ns=-\r\nc=IN IP4 10.20.0.15\r\nt=0 0\r\n"
    "m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)
PIDF = (
    '<?xml version="1.0" encoding="UTF-8"?>\r\n'
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"\r\n'
    '    xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml"\r\n'
    '    entity="tel:+6281234567890">\r\n'
    '  <dm:device id="target123-1">\r\n'
    "    <gp:geopriv>\r\n"
    "      <gp:location-info>\r\n"
    '        <gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>-5.14767 119.43278</gml:pos></gml:Point>\r\n'
    "      </gp:location-info>\r\n"
    "      <gp:usage-rules/>\r\n"
    "      <gp:method>GPS</gp:method>\r\n"
    "    </gp:geopriv>\r\n"
    "    <dm:timestamp>2024-03-05T02:15:00Z</dm:timestamp>\r\n"
    "  </dm:device>\r\n"
    "</presence>\r\n"
)


def message(start: str, headers: list[str], body: str = "", newline: str = "\r\n", length: int | None = None) -> str:
    """A SIP request with a correct Content-Length unless one is given."""
    size = len(body.encode()) if length is None else length
    return newline.join([start, *headers, f"Content-Length: {size}", "", body])


INVITE_HEADERS = [
    "Via: SIP/2.0/UDP 10.20.0.15:5060;branch=z9hG4bK776asdhds",
    "Max-Forwards: 70",
    "To: <sip:112@warroom.local>",
    'From: "Budi Santoso" <sip:081234567890@ims.telkomsel.example>;tag=1928301774',
    "Call-ID: a84b4c76e66710@10.20.0.15",
    "CSeq: 314159 INVITE",
    "Contact: <sip:081234567890@10.20.0.15:5060>",
]

PLAIN_INVITE = message("INVITE sip:112@warroom.local SIP/2.0", [*INVITE_HEADERS, "Content-Type: application/sdp"], SDP)

MULTIPART_BODY = (
    "--boundary1\r\n"
    "Content-Type: application/sdp\r\n"
    "\r\n"
    f"{SDP}\r\n"
    "--boundary1\r\n"
    "Content-Type: application/pidf+xml\r\n"
    "Content-ID: <target123@ims.telkomsel.example>\r\n"
    "\r\n"
    f"{PIDF}\r\n"
    "--boundary1--\r\n"
)


def geolocated_invite(geolocation: str = "<cid:target123@ims.telkomsel.example>", body: str = MULTIPART_BODY) -> str:
    """An INVITE shaped like RFC 6442 section 8: SDP and PIDF-LO in multipart/mixed, Geolocation by cid."""
    return message(
        "INVITE sip:112@warroom.local;user=phone SIP/2.0",
        [
            *INVITE_HEADERS,
            "P-Asserted-Identity: <tel:+62-812-3456-7890>, <sip:+6281234567890@ims.telkomsel.example;user=phone>",
            f"Geolocation: {geolocation}",
            "Geolocation-Routing: no",
            "Accept: application/sdp, application/pidf+xml",
            "Content-Type: multipart/mixed; boundary=boundary1",
        ],
        body,
    )


def test_plain_invite_with_sdp() -> None:
    request = parse_sip_request(PLAIN_INVITE)
    assert (request.method, request.request_uri) == ("INVITE", "sip:112@warroom.local")
    assert request.call_id == "a84b4c76e66710@10.20.0.15"
    assert request.from_uri == "sip:081234567890@ims.telkomsel.example"
    assert request.from_display == "Budi Santoso"
    assert request.to_uri == "sip:112@warroom.local"
    assert request.caller_number == "081234567890"
    assert request.content_type == "application/sdp"
    assert request.body == SDP.encode()
    assert request.parts == () and request.geolocation == () and request.body_error is None
    assert request.headers.get("cseq") == "314159 INVITE"
    assert request_target_user(request) == "112"
    assert find_pidf(request) is None


def test_rfc6442_style_invite_gives_the_pidf_named_by_cid() -> None:
    request = parse_sip_request(geolocated_invite().encode())
    assert request.geolocation == ("cid:target123@ims.telkomsel.example",)
    assert request.geolocation_routing is False
    assert request.caller_number == "+6281234567890"  # P-Asserted-Identity, tel URI first, separators dropped
    assert request.content_type == "multipart/mixed"
    assert [(p.content_type, p.content_id) for p in request.parts] == [
        ("application/sdp", None),
        ("application/pidf+xml", "target123@ims.telkomsel.example"),
    ]
    assert request.parts[0].body == SDP.encode()
    pidf = find_pidf(request)
    assert pidf == PIDF.encode()
    location = parse_pidf_lo(pidf)
    assert (location.lat, location.lon, location.method) == (-5.14767, 119.43278, "GPS")


def test_pidf_without_a_geolocation_header_is_found_by_type() -> None:
    raw = geolocated_invite().replace("Geolocation: <cid:target123@ims.telkomsel.example>\r\n", "")
    assert find_pidf(parse_sip_request(raw)) == PIDF.encode()


def test_cid_naming_no_part_falls_back_to_the_pidf_part() -> None:
    request = parse_sip_request(geolocated_invite("<cid:someone-else@example.com>"))
    assert find_pidf(request) == PIDF.encode()


def test_cid_naming_no_part_and_no_pidf_part_gives_none() -> None:
    body = MULTIPART_BODY.replace("application/pidf+xml", "application/xml")
    request = parse_sip_request(geolocated_invite("<cid:someone-else@example.com>", body))
    assert len(request.parts) == 2
    assert find_pidf(request) is None


def test_cid_match_wins_over_an_earlier_pidf_part_and_is_url_decoded() -> None:
    decoy = "--boundary1\r\nContent-Type: application/pidf+xml\r\nContent-ID: <decoy@x>\r\n\r\n<presence/>\r\n"
    request = parse_sip_request(geolocated_invite("<cid:target123%40ims.telkomsel.example>", decoy + MULTIPART_BODY))
    assert find_pidf(request) == PIDF.encode()


def test_whole_body_pidf_and_https_geolocation() -> None:
    raw = message(
        "INVITE urn:service:sos SIP/2.0",
        [
            *INVITE_HEADERS,
            "Geolocation: <https://lis.example.com/loc/8a7e>;inserted-by=lis, <cid:loc@x>",
            "Geolocation: <sips:lis@example.com>",
            "Content-Type: application/pidf+xml; charset=UTF-8",
        ],
        PIDF,
    )
    request = parse_sip_request(raw)
    assert request.geolocation == ("https://lis.example.com/loc/8a7e", "cid:loc@x", "sips:lis@example.com")
    assert find_pidf(request) == PIDF.encode()
    assert request_target_user(request) == "sos"


def test_compact_headers_bare_lf_and_folding() -> None:
    raw = message(
        "MESSAGE sip:112@warroom.local SIP/2.0",
        [
            "v: SIP/2.0/TCP 10.20.0.15;branch=z9hG4bKnashds7",
            "f: <sip:+6281234567890@ims.example>;tag=49583",
            "t: <sip:112@warroom.local>",
            "i: 1j9FpLxk3uxtm8tn@10.20.0.15",
            "m: <sip:+6281234567890@10.20.0.15>",
            "Subject: darurat,",
            "\t kebakaran",
            "  besar",
            "c: text/plain;charset=UTF-8",
        ],
        "Tolong ada kebakaran di Jl. Veteran",
        newline="\n",
    ).replace("Content-Length:", "l:")
    request = parse_sip_request(raw)
    assert request.call_id == "1j9FpLxk3uxtm8tn@10.20.0.15"
    assert request.headers.get("From") == request.headers.get("f") == "<sip:+6281234567890@ims.example>;tag=49583"
    assert request.headers.get("contact") == "<sip:+6281234567890@10.20.0.15>"
    assert request.headers.get("VIA") is not None and "Via" in request.headers
    assert request.headers.get("Subject") == "darurat, kebakaran besar"
    assert request.caller_number == "+6281234567890"
    assert request.content_type == "text/plain"
    assert request.body.decode() == "Tolong ada kebakaran di Jl. Veteran"
    assert ("Content-Length", "35") in list(request.headers)


def test_message_with_indonesian_text_and_multi_valued_headers() -> None:
    text = "Tolong ada kebakaran di Jl. Veteran \u2014 dekat pasar"
    raw = message(
        "\r\nMESSAGE tel:112;phone-context=+62 SIP/2.0",
        [
            "Via: SIP/2.0/UDP a;branch=z9hG4bK1",
            "Via: SIP/2.0/UDP b;branch=z9hG4bK2",
            "From: sip:anonymous@anonymous.invalid;tag=1",
            "Content-Type: text/plain",
        ],
        text,
    )
    request = parse_sip_request(raw)
    assert request.body.decode("utf-8") == text
    assert request.headers.get_all("via") == ("SIP/2.0/UDP a;branch=z9hG4bK1", "SIP/2.0/UDP b;branch=z9hG4bK2")
    assert request.from_uri == "sip:anonymous@anonymous.invalid" and request.caller_number is None
    assert request.call_id is None
    assert request_target_user(request) == "112"


@pytest.mark.parametrize(
    ("uri", "user"),
    [
        ("sip:112@warroom.local", "112"),
        ("sips:112@warroom.local:5061;transport=tls", "112"),
        ("sip:112;phone-context=+62@warroom.local;user=phone", "112"),
        ("tel:112", "112"),
        ("tel:112;phone-context=+62", "112"),
        ("urn:service:sos", "sos"),
        ("URN:service:sos.fire", "sos.fire"),
        ("sip:%31%31%32@warroom.local", "112"),
        ("sip:warroom.local", ""),
        ("http://warroom.local/112", ""),
        ("sip:%0d%0a112@warroom.local", ""),
    ],
)
def test_request_target_user(uri: str, user: str) -> None:
    request = parse_sip_request(message(f"INVITE {uri} SIP/2.0", ["Call-ID: x"]))
    assert request_target_user(request) == user


@pytest.mark.parametrize(
    ("identity", "number"),
    [
        ("P-Asserted-Identity: <sip:%2B6281234567890@ims.example;user=phone>", "+6281234567890"),
        ('P-Asserted-Identity: "Dinas" <sip:0411-123456@pbx.example>', "0411123456"),
        ("P-Asserted-Identity: <sip:budi@ims.example>", "budi"),
        ("P-Asserted-Identity: <sip:%0D%0AX-Evil:1@ims.example>", "081234567890"),
        ("P-Asserted-Identity: <mailto:x@example.com>", "081234567890"),
        ("X-Other: 1", "081234567890"),
    ],
)
def test_caller_number_prefers_asserted_identity_then_from(identity: str, number: str) -> None:
    assert parse_sip_request(message("INVITE sip:112@w SIP/2.0", [*INVITE_HEADERS, identity])).caller_number == number


def test_unquoted_display_name_and_escaped_quotes() -> None:
    raw = message("INVITE sip:112@w SIP/2.0", ['From: "Ibu \\"Ani\\"" <sip:0811@x>;tag=1', "To: Pusat 112 <sip:112@w>"])
    request = parse_sip_request(raw)
    assert request.from_display == 'Ibu "Ani"' and request.from_uri == "sip:0811@x"
    assert request.to_uri == "sip:112@w"


def test_body_longer_than_content_length_is_cut_to_it() -> None:
    raw = message("MESSAGE sip:112@w SIP/2.0", ["Content-Type: text/plain"], "Tolong!EXTRA", length=7)
    request = parse_sip_request(raw)
    assert request.body == b"Tolong!" and request.body_error is None


def test_no_content_length_takes_the_rest_and_str_keeps_pjsua_surrogate_escapes() -> None:
    raw = b"MESSAGE sip:112@w SIP/2.0\r\nContent-Type: text/plain\r\n\r\nKebakaran \xe9\xff"
    as_str = raw.decode("utf-8", "surrogateescape")  # how SWIG hands pjsua2's wholeMsg to Python
    assert parse_sip_request(raw).body == parse_sip_request(as_str).body == b"Kebakaran \xe9\xff"


def test_non_utf8_bytes_in_a_header_are_replaced() -> None:
    raw = b'INVITE sip:112@w SIP/2.0\r\nFrom: "Jos\xe9" <sip:0811@x>\r\nContent-Length: 0\r\n\r\n'
    assert parse_sip_request(raw).from_display == "Jos\ufffd"


# Body problems keep the call: the request is returned, with no parts and body_error saying why.
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (geolocated_invite().replace("; boundary=boundary1", ""), "without a boundary"),
        (geolocated_invite().replace("boundary=boundary1", "boundary=other"), "not found"),
        (geolocated_invite(body=MULTIPART_BODY.replace("--boundary1--\r\n", "")), "closing boundary"),
        (geolocated_invite(body=MULTIPART_BODY[: len(MULTIPART_BODY) // 2]), "closing boundary"),
        (geolocated_invite(body="--boundary1\r\nContent-Type: application/sdp\r\n--boundary1--\r\n"), "blank line"),
        (geolocated_invite(body="--boundary1\r\nno colon here\r\n\r\nx\r\n--boundary1--\r\n"), "part 1 line 1"),
        (geolocated_invite().replace("boundary=boundary1", 'boundary="' + "b" * 80 + '"'), "invalid boundary"),
        (geolocated_invite()[:-200], "truncated"),
    ],
)
def test_unreadable_bodies_give_a_partial_result(raw: str, reason: str) -> None:
    request = parse_sip_request(raw)
    assert request.parts == ()
    assert request.body_error is not None and reason in request.body_error
    assert request.caller_number == "+6281234567890" and request.call_id == "a84b4c76e66710@10.20.0.15"
    assert request.geolocation == ("cid:target123@ims.telkomsel.example",)
    assert find_pidf(request) is None


def test_quoted_boundary_nested_multipart_and_parts_without_headers() -> None:
    inner = f"--inner\r\nContent-Type: application/pidf+xml\r\nContent-ID: <loc@x>\r\n\r\n{PIDF}\r\n--inner--"
    body = (
        "preamble\r\n--outer b\r\n\r\nno headers here\r\n"
        f'--outer b\r\nContent-Type: multipart/related; boundary="inner"\r\n\r\n{inner}\r\n'
        "--outer b--\r\nepilogue"
    )
    raw = message(
        "INVITE sip:112@w SIP/2.0",
        ["Geolocation: <cid:loc@x>", 'Content-Type: multipart/mixed; boundary="outer b"'],
        body,
    )
    request = parse_sip_request(raw)
    assert [(p.content_type, p.content_id, p.body[:15]) for p in request.parts] == [
        ("text/plain", None, b"no headers here"),
        ("application/pidf+xml", "loc@x", PIDF.encode()[:15]),
    ]
    assert find_pidf(request) == PIDF.encode()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "request line"),
        ("\r\n\r\n", "request line"),
        ("Content-Length: 0\r\n\r\n", "request line"),
        ("SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n", "a response"),
        ("INVITE sip:112@w\r\n\r\n", "request line"),
        ("INVITE sip:112@w SIP/3.0\r\n\r\n", "request line"),
        ("INVITE sip:112@w SIP/2.0\r\nno colon\r\n\r\n", "header line 1"),
        ("INVITE sip:112@w SIP/2.0\r\n continued\r\n\r\n", "continuation"),
        ("INVITE sip:112@w SIP/2.0\r\nBad Name: x\r\n\r\n", "header line 1"),
        ("INVITE sip:112@w SIP/2.0\r\nSubject: a\rX-Injected: 1\r\n\r\n", "bare CR"),
        ("INVITE sip:112@w SIP/2.0\r\nSubject: a\x00b\r\n\r\n", "NUL"),
        ("INVITE sip:112@w SIP/2.0\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
        ("INVITE sip:112@w SIP/2.0\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        ("INVITE sip:112@w SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", "contradictory"),
        ("INVITE sip:112@w SIP/2.0\r\nFrom: \ud83d\r\n\r\n", "not encodable"),
    ],
)
def test_unreadable_requests_are_refused_naming_the_fault(raw: str, reason: str) -> None:
    with pytest.raises(MalformedSipMessage, match=reason):
        parse_sip_request(raw)


def test_oversized_and_pathological_messages_are_quick() -> None:
    with pytest.raises(MalformedSipMessage, match="more than"):
        parse_sip_request("INVITE sip:112@w SIP/2.0\r\n\r\n" + "x" * MAX_SIP_BYTES)
    started = time.monotonic()
    many_headers = message("INVITE sip:112@w SIP/2.0", [f"X-H{i}: {'v' * 20}" for i in range(3000)])
    assert len(parse_sip_request(many_headers).headers) == 3001
    parts = "".join("--b\r\n\r\nx\r\n" for _ in range(5000)) + "--b--"
    raw = message("INVITE sip:112@w SIP/2.0", ["Content-Type: multipart/mixed;boundary=b"], parts)
    assert len(parse_sip_request(raw).parts) == 5000
    nested = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(50))
    raw = message("INVITE sip:112@w SIP/2.0", ["Content-Type: multipart/mixed; boundary=b0"], nested)
    assert parse_sip_request(raw).body_error is not None
    no_delimiter = message("INVITE sip:112@w SIP/2.0", ["Content-Type: multipart/mixed;boundary=b"], "-" * 100_000)
    assert parse_sip_request(no_delimiter).body_error is not None
    assert time.monotonic() - started < 2.0


def test_header_values_never_carry_line_breaks() -> None:
    request = parse_sip_request(geolocated_invite())
    assert isinstance(request, SipRequest)
    assert all("\r" not in value and "\n" not in value for _, value in request.headers)
