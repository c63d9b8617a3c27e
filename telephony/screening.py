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
import re
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
    """`contact`: the Contact URI pjsua2 read from the MESSAGE, empty when it carried none."""
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
            "contact": reply_target(request, src_address, contact),
        },
    )


def reply_target(request: SipRequest, src_address: str, contact: str | None = None) -> str:
    """Where a reply to this MESSAGE goes: its Contact when it has one, else back to the address
    and port it came from, on the transport it came on (RFC 3261 §18.2.2, RFC 3581 rport): a phone
    behind NAT, or one that sends from an ephemeral port, listens there and not on 5060 of its host.
    Through a proxy the source is the proxy: the phone is then its own Via, the last one, with the
    address and port the first proxy saw (`received`, `rport`)."""
    given = (contact or "").strip() or _contact_uri(request.headers.get("contact"))
    if given:
        return given
    vias = [value for line in request.headers.get_all("via") for value in line.split(",") if value.strip()]
    host, port = source_host_port(src_address)
    transport = via_transport(vias[0] if vias else None)
    if len(vias) > 1 and (origin := _via_origin(vias[-1])) is not None:
        transport, host, port = origin
    user = _uri_user_part(request.from_uri)
    suffix = f";transport={transport}" if transport in ("tcp", "tls") else ""
    return f"sip:{user + '@' if user else ''}{host}:{port}{suffix}"


def source_host_port(src_address: str) -> tuple[str, int]:
    """`127.0.0.1:5061` → ("127.0.0.1", 5061); `[::1]:5061` → ("[::1]", 5061); no port → 5060."""
    value = src_address.strip()
    if value.startswith("["):
        host, _, rest = value.partition("]")
        port = rest.lstrip(":")
        return host + "]", int(port) if port.isdigit() else 5060
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port) if port.isdigit() else 5060
    return (f"[{value}]" if ":" in value else value), 5060


_VIA = re.compile(
    r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[^\s;:\[\]]+)(?::(\d{1,5}))?\s*(.*)", re.S
)


def via_transport(via: str | None) -> str:
    """The transport of a Via value (`SIP/2.0/TCP host` → "tcp"), "udp" when there is none."""
    match = _VIA.match(via or "")
    return match.group(1).lower() if match else "udp"


def _via_origin(via: str) -> tuple[str, str, int] | None:
    """(transport, host, port) a Via's sender was seen at: `received`/`rport` over its sent-by."""
    match = _VIA.match(via)
    if match is None:
        return None
    params = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (p.partition("=") for p in match.group(4).split(";"))
    )
    host = params.get("received") or match.group(2)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    rport, sent_port = params.get("rport", ""), match.group(3)
    port = int(rport) if rport.isdigit() else int(sent_port) if sent_port else 5060
    if not (0 < port < 65536) or not re.fullmatch(r"[\w.\-:\[\]]+", host):
        return None
    return match.group(1).lower(), host, port


def _contact_uri(value: str | None) -> str:
    if not value or value.strip() == "*":
        return ""
    value = value.strip()
    if "<" in value:
        return value.partition("<")[2].split(">", 1)[0].strip()
    return value.split(";", 1)[0].strip()


def _uri_user_part(uri: str | None) -> str:
    """The user of a sip:/sips: URI as written (`sip:0812;x=y:pw@host` → "0812"), else ""."""
    scheme, _, rest = (uri or "").partition(":")
    if scheme.lower() not in ("sip", "sips") or "@" not in rest:
        return ""
    user = rest.rsplit("@", 1)[0].split(";", 1)[0].split(":", 1)[0]
    return user if user.isprintable() and not any(c in user for c in ' <>"') else ""
