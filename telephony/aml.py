"""Advanced Mobile Location (ETSI TS 103 625) messages, by SMS or as HTTPS form fields.

Pure: text or a mapping in, a frozen :class:`AmlMessage` out. A body that is not AML
raises :class:`NotAnAmlMessage`; an AML body with a bad field raises
:class:`MalformedAml` naming the field. Both are ``ValueError``.

Choices:
- versions 1 and 2 are read; any other version is refused (``MalformedAml``);
- a key given twice is refused: two different locations in one message cannot be trusted;
- ``pm=N`` keeps the message with no location, even if ``lt``/``lg`` are present;
- ``ml`` (declared length) is reported, never checked; a non-integer ``ml`` reads as ``None``;
- empty ``si``/``ei``/``mcc``/``mnc``/``rd``/``lc``/``top`` values read as absent;
- unknown keys are kept in ``extra`` (keys lower-cased), never fatal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_AML_CHARS = 16 * 1024
SUPPORTED_VERSIONS = frozenset({1, 2})
METHODS = {"G": "gnss", "W": "wifi", "C": "cell", "N": "none"}
_HEADER = re.compile(r'\s*A["\u201c\u201d]ML=(\d{1,3})\s*(?:;|$)')
_DEGREES = re.compile(r"[+-]?\d{1,3}(?:\.\d+)?")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_KNOWN = frozenset({"lt", "lg", "rd", "top", "lc", "pm", "si", "ei", "mcc", "mnc", "ml"})
_VERSION_KEYS = ('a"ml', "version", "v")


class NotAnAmlMessage(ValueError):
    """The text is an ordinary SMS, not an AML message."""


class MalformedAml(ValueError):
    """An AML message whose fields cannot be trusted."""


@dataclass(frozen=True)
class AmlMessage:
    """One AML report: the handset's own fix (or none), who sent it, and when it was taken."""

    version: int
    lat: float | None
    lon: float | None
    radius_m: float | None
    fix_at: datetime | None
    confidence_pct: int | None
    method: str
    imsi: str | None = None
    imei: str | None = None
    mcc: str | None = None
    mnc: str | None = None
    declared_length: int | None = None
    extra: dict[str, str] = field(default_factory=dict)


def is_aml(body: str) -> bool:
    """Whether an SMS body is an AML message (``A"ML=<version>;...``), so it is not shown as text."""
    return _HEADER.match(body[:32]) is not None


def parse_aml(body: str) -> AmlMessage:
    """Parse an AML SMS body such as ``A"ML=1;lt=+55.74317;lg=-004.26881;rd=50;...``."""
    if len(body) > MAX_AML_CHARS:
        raise MalformedAml(f"body: {len(body)} characters, more than the {MAX_AML_CHARS} allowed")
    header = _HEADER.match(body)
    if header is None:
        raise NotAnAmlMessage('body does not start with A"ML=<version>;')
    fields: dict[str, str] = {'a"ml': header.group(1)}
    for segment in body[header.end() :].split(";"):
        if not segment.strip():
            continue
        key, equals, value = segment.partition("=")
        key = key.strip().lower()
        if not equals or not key:
            raise MalformedAml(f"field {segment.strip()[:40]!r}: expected key=value")
        if key in fields:
            raise MalformedAml(f"{key}: given more than once")
        fields[key] = value.strip()
    return parse_aml_fields(fields)


def parse_aml_fields(fields: Mapping[str, str]) -> AmlMessage:
    """Build an AML message from its key/value fields, however they arrived (SMS or HTTPS form).

    The version is read from the ``A"ML``, ``version`` or ``v`` key and defaults to 1.
    """
    values = {str(k).strip().lower(): str(v).strip() for k, v in fields.items()}
    version = _version(values)
    pm = values.get("pm", "").upper()
    if pm not in METHODS:
        raise MalformedAml(f"pm: {pm[:10]!r} is not one of G, W, C, N")
    lat = lon = None
    if pm != "N":
        lat = _degrees(values, "lt", 90.0)
        lon = _degrees(values, "lg", 180.0)
    radius_m = _decimal(values, "rd")
    confidence = _decimal(values, "lc")
    if confidence is not None and (confidence > 100 or confidence != int(confidence)):
        raise MalformedAml(f"lc: {values['lc'][:20]!r} is not a whole percentage 0..100")
    ml = values.get("ml", "")
    return AmlMessage(
        version=version,
        lat=lat,
        lon=lon,
        radius_m=radius_m,
        fix_at=_fix_time(values.get("top", "")),
        confidence_pct=None if confidence is None else int(confidence),
        method=METHODS[pm],
        imsi=_digits(values, "si", 5, 15),
        imei=_digits(values, "ei", 14, 16),
        mcc=_digits(values, "mcc", 3, 3),
        mnc=_digits(values, "mnc", 2, 3),
        declared_length=int(ml) if ml.isascii() and ml.isdigit() and len(ml) < 10 else None,
        extra={k: v for k, v in values.items() if k not in _KNOWN and k not in _VERSION_KEYS},
    )


def _version(values: Mapping[str, str]) -> int:
    text = next((values[k] for k in _VERSION_KEYS if k in values), "1")
    if not (text.isascii() and text.isdigit() and len(text) <= 3) or int(text) not in SUPPORTED_VERSIONS:
        raise MalformedAml(f'A"ML: version {text[:10]!r} is not supported (1 or 2)')
    return int(text)


def _degrees(values: Mapping[str, str], key: str, limit: float) -> float:
    text = values.get(key)
    if text is None or text == "":
        raise MalformedAml(f"{key}: missing although pm gives a fix")
    if not _DEGREES.fullmatch(text):
        raise MalformedAml(f"{key}: {text[:20]!r} is not signed decimal degrees")
    value = float(text)
    if not math.isfinite(value) or abs(value) > limit:
        raise MalformedAml(f"{key}: {value} outside [-{limit:g}, {limit:g}]")
    return value


def _decimal(values: Mapping[str, str], key: str) -> float | None:
    text = values.get(key, "")
    if text == "":
        return None
    if not _DECIMAL.fullmatch(text) or len(text) > 20:
        raise MalformedAml(f"{key}: {text[:20]!r} is not a non-negative number")
    return float(text)


def _fix_time(text: str) -> datetime | None:
    if text == "":
        return None
    if not (len(text) == 14 and text.isascii() and text.isdigit()):
        raise MalformedAml(f"top: {text[:20]!r} is not YYYYMMDDhhmmss")
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedAml(f"top: {text!r} is not a valid date and time") from exc


def _digits(values: Mapping[str, str], key: str, shortest: int, longest: int) -> str | None:
    text = values.get(key, "")
    if text == "":
        return None
    if not (text.isascii() and text.isdigit() and shortest <= len(text) <= longest):
        raise MalformedAml(f"{key}: {text[:20]!r} is not {shortest}..{longest} digits")
    return text
