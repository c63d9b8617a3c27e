"""Any input to a parser gives a value or the parser's named error, never another exception."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.aml import MalformedAml, NotAnAmlMessage, is_aml, parse_aml, parse_aml_fields
from telephony.pidf_lo import MalformedLocation, parse_pidf_lo
from telephony.screening import allowed_networks, screen_invite, screen_message
from telephony.sip_message import MalformedSipMessage, find_pidf, parse_sip_request, request_target_user

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AML_KEYS = ["lt", "lg", "rd", "top", "lc", "pm", "si", "ei", "mcc", "mnc", "ml", "zz"]
aml_like = st.builds(
    lambda pairs, prefix: prefix + ";".join(f"{k}={v}" for k, v in pairs),
    st.lists(st.tuples(st.sampled_from(AML_KEYS), st.text(max_size=12)), max_size=12),
    st.sampled_from(['A"ML=1;', 'A"ML=2;', 'A"ML=x;', "A\u201cML=1;", "", "AML=1;"]),
)

XML_PIECES = [
    "<presence xmlns='urn:ietf:params:xml:ns:pidf'>",
    "<tuple>",
    "</tuple>",
    "<gml:pos>",
    "</gml:pos>",
    "<gs:Circle xmlns:gs='http://www.opengis.net/pidflo/1.0'>",
    "<gs:radius uom='urn:ogc:def:uom:EPSG::9001'>",
    "-5.1 119.4",
    "NaN inf",
    "1e999 0",
    "<civicAddress>",
    "<A3>Makassar</A3>",
    "<!DOCTYPE x [<!ENTITY a 'b'>]>",
    "&a;",
    "</presence>",
    "<![CDATA[",
    "]]>",
    "\x00",
    "é",
]
pidf_like = st.lists(st.sampled_from(XML_PIECES), max_size=25).map("".join)

SIP_PIECES = [
    "INVITE sip:112@c SIP/2.0\r\n",
    "MESSAGE tel:112 SIP/2.0\r\n",
    "Call-ID: x\r\n",
    "i: y\r\n",
    "From: <sip:0812@a>;tag=1\r\n",
    "P-Asserted-Identity: <tel:+62812>\r\n",
    "Geolocation: <cid:l@x>\r\n",
    "Content-Type: multipart/mixed;boundary=b\r\n",
    "Content-Length: 40\r\n",
    "l: 99999\r\n",
    "\r\n",
    "--b\r\nContent-ID: <l@x>\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n",
    "--b--",
    " folded\r\n",
    "\r",
    "\n",
    "\x00",
    "SIP/2.0 200 OK\r\n",
]
sip_like = st.lists(st.sampled_from(SIP_PIECES), max_size=20).map("".join)


@FUZZ
@given(st.one_of(st.text(max_size=300), aml_like))
def test_aml_parser(body: str) -> None:
    try:
        message = parse_aml(body)
    except (MalformedAml, NotAnAmlMessage):
        return
    assert is_aml(body)
    if message.lat is not None:
        assert -90 <= message.lat <= 90 and -180 <= (message.lon or 0) <= 180


@FUZZ
@given(st.dictionaries(st.sampled_from([*AML_KEYS, 'A"ML', "v"]), st.text(max_size=15), max_size=12))
def test_aml_fields_parser(fields: dict[str, str]) -> None:
    with contextlib.suppress(MalformedAml, NotAnAmlMessage):
        parse_aml_fields(fields)


@FUZZ
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400), pidf_like))
def test_pidf_lo_parser(document: bytes | str) -> None:
    try:
        location = parse_pidf_lo(document)
    except MalformedLocation:
        return
    if location.lat is not None:
        assert -90 <= location.lat <= 90


@FUZZ
@given(st.one_of(st.binary(max_size=600), st.text(max_size=600), sip_like))
def test_sip_request_parser_and_what_follows(raw: bytes | str) -> None:
    try:
        request = parse_sip_request(raw)
    except MalformedSipMessage:
        return
    request_target_user(request)
    pidf = find_pidf(request)
    if pidf is not None:
        with contextlib.suppress(MalformedLocation):
            parse_pidf_lo(pidf)


NETWORKS = allowed_networks(["127.0.0.1"])


@FUZZ
@given(st.one_of(st.binary(max_size=600), sip_like), st.sampled_from(["127.0.0.1:5060", "[::1]:5060", "junk", ""]))
def test_screening_always_decides(raw: bytes | str, source: str) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    assert screen_invite(raw, source, NETWORKS, now).status in (200, 400, 403, 404)
    assert screen_message(raw, source, NETWORKS, now, "halo", None).status in (200, 400, 403, 404)
