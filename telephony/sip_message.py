"""What pjsua2 does not expose, read from a raw SIP request (``prm.rdata.wholeMsg``).

Pure: the request text in, a frozen :class:`SipRequest` out: the caller's number
(P-Asserted-Identity before From), the RFC 6442 ``Geolocation`` URIs and the MIME
parts of a multipart body, so :func:`find_pidf` can hand the PIDF-LO to the parser.

A request that cannot be read raises :class:`MalformedSipMessage` (a ``ValueError``)
naming the line or header at fault: no request line (or a response), a header line
without a colon, a bare CR or NUL in a header (injection), a non-numeric or
contradictory Content-Length, more than ``MAX_SIP_BYTES``.

A body that cannot be read does not lose the call: the request is returned with the
body as received, no ``parts``, and ``body_error`` saying why (body shorter than
Content-Length, multipart without a boundary parameter, boundary not found, no closing
delimiter, a part without a blank line after its headers). Also tolerated: bare LF
line endings, leading blank lines, no Content-Length (the body is the rest), a body
longer than Content-Length (cut to it, as a stream reader does), non-UTF-8 bytes in
header values (replaced by U+FFFD), multipart nested deeper than
``MAX_MULTIPART_DEPTH`` (inner parts dropped), a caller URI whose user part is
``anonymous`` or holds control characters (no caller number).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote

MAX_SIP_BYTES = 128 * 1024
MAX_MULTIPART_DEPTH = 3
PIDF_TYPE = "application/pidf+xml"
COMPACT_FORMS = {
    "i": "Call-ID",
    "f": "From",
    "t": "To",
    "c": "Content-Type",
    "l": "Content-Length",
    "m": "Contact",
    "v": "Via",
    "e": "Content-Encoding",
    "k": "Supported",
    "s": "Subject",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
}
_CANONICAL = {name.lower(): name for name in [*COMPACT_FORMS.values(), "Content-ID", "P-Asserted-Identity"]}
_REQUEST_LINE = re.compile(r"([A-Za-z0-9.!%*_+`'~-]+) (\S+) SIP/2\.0")
_TOKEN = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+")
_LINE_BREAK = re.compile(rb"\r?\n")
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_PHONE = re.compile(r"\+?[0-9*#A-Da-d().\- ]+")


class MalformedSipMessage(ValueError):
    """The raw SIP request cannot be read; the message names the line, header or part at fault."""


@dataclass(frozen=True)
class SipHeaders:
    """Header fields in arrival order; lookups ignore case and accept compact forms (``i``, ``f``...)."""

    fields: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The first value of a header, or None."""
        return next(iter(self.get_all(name)), None)

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of a header, one per header line."""
        wanted = _canonical(name).lower()
        return tuple(value for key, value in self.fields if key.lower() == wanted)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


@dataclass(frozen=True)
class MimePart:
    """One body part of a multipart SIP body; ``content_id`` without its angle brackets."""

    content_type: str
    content_id: str | None
    headers: SipHeaders
    body: bytes


@dataclass(frozen=True)
class SipRequest:
    """A SIP request as far as the call-taker needs it. ``content_type`` is the bare, lower-case media type."""

    method: str
    request_uri: str
    headers: SipHeaders
    call_id: str | None
    from_uri: str | None
    from_display: str | None
    to_uri: str | None
    caller_number: str | None
    geolocation: tuple[str, ...] = ()
    geolocation_routing: bool | None = None
    content_type: str | None = None
    body: bytes = b""
    parts: tuple[MimePart, ...] = field(default_factory=tuple)
    body_error: str | None = None


def parse_sip_request(raw: str | bytes) -> SipRequest:
    """Parse a raw SIP request (INVITE, MESSAGE...); str input may carry pjsua2's surrogate escapes."""
    data = _as_bytes(raw)
    if len(data) > MAX_SIP_BYTES:
        raise MalformedSipMessage(f"message: {len(data)} bytes, more than the {MAX_SIP_BYTES} allowed")
    data = data.lstrip(b"\r\n")
    head, body = _split_head(data)
    lines = [line.decode("utf-8", "replace") for line in _LINE_BREAK.split(head)]
    request_line = _REQUEST_LINE.fullmatch(lines[0].strip()) if lines else None
    if request_line is None:
        what = "a response" if lines and lines[0].startswith("SIP/") else repr(lines[0][:60]) if lines else "nothing"
        raise MalformedSipMessage(f"request line: expected 'METHOD uri SIP/2.0', got {what}")
    headers = _headers(lines[1:], "header")
    body, body_error = _cut_to_length(headers, body)
    content_type, params = _media_type(headers.get("Content-Type"))
    parts: tuple[MimePart, ...] = ()
    if content_type and body_error is None:
        try:
            parts = _parts(content_type, params, body, "body", 1)
        except MalformedSipMessage as error:
            body_error = str(error)
    from_display, from_uri = _name_addr(headers.get("From"))
    _, to_uri = _name_addr(headers.get("To"))
    routing = (headers.get("Geolocation-Routing") or "").strip().lower()
    return SipRequest(
        method=request_line.group(1),
        request_uri=request_line.group(2),
        headers=headers,
        call_id=headers.get("Call-ID"),
        from_uri=from_uri,
        from_display=from_display,
        to_uri=to_uri,
        caller_number=_caller_number(headers, from_uri),
        geolocation=tuple(uri for value in headers.get_all("Geolocation") for uri in _uri_list(value)),
        geolocation_routing={"yes": True, "no": False}.get(routing),
        content_type=content_type,
        body=body,
        parts=parts,
        body_error=body_error,
    )


def find_pidf(request: SipRequest) -> bytes | None:
    """The PIDF-LO body: the part a ``cid:`` Geolocation URI names, else the first PIDF part, else the body."""
    wanted = {unquote(uri[4:]) for uri in request.geolocation if uri.lower().startswith("cid:")}
    for part in request.parts:
        if part.content_id is not None and part.content_id in wanted:
            return part.body
    for part in request.parts:
        if part.content_type == PIDF_TYPE:
            return part.body
    return request.body if request.content_type == PIDF_TYPE and request.body else None


def request_target_user(request: SipRequest) -> str:
    """Who was called: ``112`` for ``sip:112@host``, ``sip:112;phone-context=x@host`` or ``tel:112``; ``sos`` for
    ``urn:service:sos``; ``""`` when the Request-URI names no user (so it matches no emergency number)."""
    uri = request.request_uri
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == "urn" and rest.lower().startswith("service:"):
        user = rest[len("service:") :]
    elif scheme == "tel":
        user = rest.split(";", 1)[0]
    elif scheme in ("sip", "sips") and "@" in rest:
        user = rest.rsplit("@", 1)[0].split(";", 1)[0].split(":", 1)[0]
    else:
        return ""
    user = unquote(user)
    return user if user.isprintable() else ""


def _as_bytes(raw: str | bytes) -> bytes:
    if isinstance(raw, bytes):
        return raw
    try:
        return raw.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise MalformedSipMessage(f"message: character not encodable as UTF-8 at {exc.start}") from exc


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    match = re.search(rb"\r?\n\r?\n", data)
    if match is None:
        return data.rstrip(b"\r\n"), b""
    return data[: match.start()], data[match.end() :]


def _headers(lines: list[str], where: str) -> SipHeaders:
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(lines, start=1):
        if "\r" in line or "\x00" in line:
            raise MalformedSipMessage(f"{where} line {number}: bare CR or NUL (header injection?)")
        if line[:1] in (" ", "\t"):
            if not fields:
                raise MalformedSipMessage(f"{where} line {number}: continuation before any header")
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN.fullmatch(name):
            raise MalformedSipMessage(f"{where} line {number}: not 'Name: value' ({line[:60]!r})")
        fields.append((_canonical(name), value.strip()))
    return SipHeaders(tuple(fields))


def _canonical(name: str) -> str:
    lower = name.lower()
    full = COMPACT_FORMS.get(lower, name)
    return _CANONICAL.get(full.lower(), full)


def _cut_to_length(headers: SipHeaders, body: bytes) -> tuple[bytes, str | None]:
    values = {value.strip() for value in headers.get_all("Content-Length")}
    if not values:
        return body, None
    if len(values) > 1:
        raise MalformedSipMessage(f"Content-Length: contradictory values {sorted(values)}")
    text = values.pop()
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise MalformedSipMessage(f"Content-Length: {text[:20]!r} is not a byte count")
    length = int(text)
    if len(body) < length:
        return body, f"Content-Length: declares {length} bytes, body has {len(body)} (truncated)"
    return body[:length], None


def _media_type(value: str | None) -> tuple[str | None, dict[str, str]]:
    if not value:
        return None, {}
    media, *rest = _split_outside_quotes(value, ";")
    params = {}
    for param in rest:
        key, _, val = param.partition("=")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[key.strip().lower()] = val
    return media.strip().lower() or None, params


def _parts(content_type: str, params: dict[str, str], body: bytes, where: str, depth: int) -> tuple[MimePart, ...]:
    if not content_type.startswith("multipart/") or depth > MAX_MULTIPART_DEPTH:
        return ()
    boundary = params.get("boundary")
    if boundary is None:
        raise MalformedSipMessage(f"{where} Content-Type: {content_type} without a boundary parameter")
    if not _BOUNDARY.fullmatch(boundary):
        raise MalformedSipMessage(f"{where} Content-Type: invalid boundary {boundary[:80]!r}")
    delimiter = re.compile(rb"(?:^|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|$)")
    matches = list(delimiter.finditer(body))
    if not matches:
        raise MalformedSipMessage(f"{where}: boundary {boundary!r} not found")
    closing = next((i for i, m in enumerate(matches) if m.group(1)), None)
    if closing is None:
        raise MalformedSipMessage(f"{where}: no closing boundary --{boundary}-- (truncated)")
    result: list[MimePart] = []
    for index, (start, end) in enumerate(itertools.pairwise(matches[: closing + 1]), start=1):
        result += _part(body[start.end() : end.start()], f"{where} part {index}", depth)
    return tuple(result)


def _part(data: bytes, where: str, depth: int) -> list[MimePart]:
    if data[:2] == b"\r\n" or data[:1] == b"\n":  # no part headers
        head, content = b"", data[2 if data[:1] == b"\r" else 1 :]
    else:
        match = re.search(rb"\r?\n\r?\n", data)
        if match is None:
            raise MalformedSipMessage(f"{where}: no blank line after the part headers")
        head, content = data[: match.start()], data[match.end() :]
    lines = [line.decode("utf-8", "replace") for line in _LINE_BREAK.split(head)] if head else []
    headers = _headers(lines, where)
    media, params = _media_type(headers.get("Content-Type"))
    media = media or "text/plain"
    if media.startswith("multipart/"):
        return list(_parts(media, params, content, where, depth + 1))
    content_id = headers.get("Content-ID")
    if content_id is not None:
        content_id = content_id.strip().removeprefix("<").removesuffix(">").strip() or None
    return [MimePart(media, content_id, headers, content)]


def _split_outside_quotes(value: str, separator: str) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    quoted = angled = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"' and not angled:
            quoted = not quoted
        elif char in "<>" and not quoted:
            angled = char == "<"
        elif char == separator and not quoted and not angled:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def _name_addr(value: str | None) -> tuple[str | None, str | None]:
    """Display name and URI of a From/To/P-Asserted-Identity value."""
    if not value:
        return None, None
    value = value.strip()
    if value.startswith('"'):
        match = re.match(r'"((?:[^"\\]|\\.)*)"\s*<([^>]*)>', value)
        if match is None:
            return None, None
        display = re.sub(r"\\(.)", r"\1", match.group(1)).strip()
        return display or None, match.group(2).strip() or None
    if "<" in value:
        display, _, rest = value.partition("<")
        uri = rest.split(">", 1)[0].strip()
        return display.strip() or None, uri or None
    return None, value.split(";", 1)[0].strip() or None


def _uri_list(value: str) -> list[str]:
    uris = []
    for item in _split_outside_quotes(value, ","):
        _, uri = _name_addr(item)
        if uri:
            uris.append(uri)
    return uris


def _caller_number(headers: SipHeaders, from_uri: str | None) -> str | None:
    asserted = [uri for value in headers.get_all("P-Asserted-Identity") for uri in _uri_list(value)]
    asserted.sort(key=lambda uri: not uri.lower().startswith("tel:"))
    for uri in [*asserted, from_uri]:
        number = _uri_user(uri) if uri else None
        if number:
            return number
    return None


def _uri_user(uri: str) -> str | None:
    scheme, _, rest = uri.partition(":")
    scheme = scheme.lower()
    if scheme == "tel":
        user = rest.split(";", 1)[0]
    elif scheme in ("sip", "sips") and "@" in rest:
        user = rest.rsplit("@", 1)[0].split(";", 1)[0].split(":", 1)[0]
    else:
        return None
    user = unquote(user)
    if not user or not user.isprintable() or user.lower() == "anonymous":
        return None
    if _PHONE.fullmatch(user):
        user = re.sub(r"[().\- ]", "", user)
    return user or None
