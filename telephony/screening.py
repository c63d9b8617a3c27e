"""What the SIP agent does with a request, decided from the raw message (pure).

`screen_invite` and `screen_message` take the raw SIP text and the sender's address and
return the SIP answer to give and the journal payload to record. A location that cannot
be read never stops a call: the call goes through with no location and a warning.

A ``Geolocation`` URI other than ``cid:`` is a location by reference (RFC 6442: ``https:``,
``http:``, ``sip:``...): the first one goes into the payload as ``location_ref`` for the centre
to keep. A reference with no body is normal, not a warning.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telephony.pidf_lo import CallerLocation, MalformedLocation, parse_pidf_lo
from telephony.sip_message import MalformedSipMessage, SipRequest, find_pidf, parse_sip_request, request_target_user

EMERGENCY_TARGETS = frozenset({"112", "sos", "911", "999"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Screened:
    status: int  # the SIP answer: 200 go on, 403 not allowed, 404 not an emergency number, 400 unreadable
    reason: str
    payload: dict[str, Any] = field(default_factory=dict)
    warning: str | None = None


def allowed_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def source_ip(src_address: str) -> str:
    """`127.0.0.1:5061` or `[::1]:5061` → the address alone."""
    value = src_address.strip()
    if value.startswith("["):
        return value[1 : value.index("]")]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def is_allowed(src_address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(source_ip(src_address))
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _location_payload(location: CallerLocation) -> dict[str, Any] | None:
    if location.lat is None or location.lon is None:
        return None if not location.address else {"address": location.address}
    return {
        "lat": location.lat,
        "lon": location.lon,
        "accuracy_m": location.radius_m,
        "address": location.address,
        "method": location.method,
        "at": location.timestamp.isoformat() if location.timestamp else None,
    }


def _screen(
    raw: str | bytes, src_address: str, networks: Sequence[Network]
) -> tuple[Screened | None, SipRequest | None]:
    if not is_allowed(src_address, networks):
        return Screened(403, f"source {src_address} is not in WARROOM_SIP_ALLOW"), None
    try:
        request = parse_sip_request(raw)
    except MalformedSipMessage as error:
        return Screened(400, f"unreadable request: {error}"), None
    if request_target_user(request).lower() not in EMERGENCY_TARGETS:
        return Screened(404, f"{request.request_uri} is not an emergency number"), None
    return None, request


def screen_invite(raw: str | bytes, src_address: str, networks: Sequence[Network], received_at: datetime) -> Screened:
    refused, request = _screen(raw, src_address, networks)
    if refused is not None or request is None:
        return refused or Screened(500, "no request")
    payload: dict[str, Any] = {
        "sip_call_id": request.call_id,
        "phone": request.caller_number,
        "name": request.from_display,
        "received_at": received_at.isoformat(),
        "contact": request.headers.get("contact"),
        "location": None,
        "location_ref": next((uri for uri in request.geolocation if not _is_cid(uri)), None),
        "location_warning": None,
    }
    warning = None
    pidf = find_pidf(request)
    by_value = [uri for uri in request.geolocation if _is_cid(uri)]
    if by_value and pidf is None:
        why = request.body_error or "no PIDF-LO body"
        warning = f"Geolocation {by_value[0]} unreadable ({why}); call taken without location"
    if pidf is not None:
        try:
            payload["location"] = _location_payload(parse_pidf_lo(pidf))
        except MalformedLocation as error:
            warning = f"malformed PIDF-LO ({error}); call taken without location"
    payload["location_warning"] = warning
    return Screened(200, "OK", payload, warning)


def _is_cid(uri: str) -> bool:
    return uri.lower().startswith("cid:")


def screen_message(
    raw: str | bytes,
    src_address: str,
    networks: Sequence[Network],
    received_at: datetime,
    body: str,
    contact: str | None,
) -> Screened:
    refused, request = _screen(raw, src_address, networks)
    if refused is not None or request is None:
        return refused or Screened(500, "no request")
    cseq = request.headers.get("cseq") or ""
    return Screened(
        200,
        "OK",
        {
            "external_id": f"sip:{request.call_id}:{cseq.split()[0] if cseq else ''}",
            "phone": request.caller_number,
            "body": body.rstrip("\r\n"),
            "received_at": received_at.isoformat(),
            "contact": contact or request.headers.get("contact") or request.from_uri,
        },
    )
