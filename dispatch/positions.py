"""GPS fixes from unit devices: reading and checking them (pure).

Devices speak several dialects (our JSON batch, OsmAnd / Traccar Client parameters, Traccar
Client 9's nested JSON). Each is a `Spelling`: which key holds which quantity and in which
unit. `read_fix` turns one device's raw values into a checked `Fix` or raises `InvalidFix`
naming the key the device sent, so the error tells the sender what to correct. A device
also speaks without a position (cell towers or Wi-Fi only, a heartbeat, 0,0 before its first
fix): `read_message` turns that into a `NoFix`, kept as what the device said while its unit
stays where it was.

`sort_arrivals` decides, before anything is stored, which fixes of a request repeat one
already in the request and which are older than the newest fix the centre already had
(history, not the current position).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

KNOT_MPS = 1852.0 / 3600.0

#: Unix times above this are milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_MILLISECONDS_FROM = 1e11

#: "…T12:00:00 07:00": a '+' of an offset that a query string turned into a space.
_SPACE_FOR_PLUS = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")

#: "…+01:00[Europe/Paris]": Java's ISO_ZONED_DATE_TIME, which Traccar's decoder parses.
_REGION = re.compile(r"^(?P<at>.+?)\[(?P<region>[^\[\]]+)\]$")


class InvalidFix(ValueError):
    """A value of a fix that cannot be true; `field` is the key as the device sent it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class PositionLimits:
    """What a believable fix looks like."""

    max_future_s: float = 60.0
    max_age_s: float = 24 * 3600.0
    max_speed_mps: float = 100.0
    max_accuracy_m: float = 10_000.0
    min_altitude_m: float = -500.0
    max_altitude_m: float = 9_000.0


@dataclass(frozen=True)
class Fix:
    """A checked fix: WGS84 degrees, aware UTC time, metric units."""

    lat: float
    lon: float
    fix_at: datetime
    accuracy_m: float | None = None
    speed_mps: float | None = None
    bearing_deg: float | None = None
    battery_pct: float | None = None
    altitude_m: float | None = None


class NoFixCause(StrEnum):
    """Why a device's message carries no position to move its unit to."""

    ABSENT = "absent"  # no latitude and longitude: cell towers or Wi-Fi only, or nothing but a time
    ZERO = "zero"  # 0,0: what trackers send before their first fix (Traccar's decoder reads it so)
    INVALID = "invalid"  # the device itself marked the fix invalid


@dataclass(frozen=True)
class NoFix:
    """A checked message of a device without a usable position: when, why, and its battery."""

    reported_at: datetime
    cause: NoFixCause
    battery_pct: float | None = None
    charging: bool | None = None


@dataclass(frozen=True)
class Spelling:
    """Where a dialect keeps each quantity, and the factor to our unit (knots → m/s, 0..1 → %)."""

    lat: str
    lon: str
    at: str
    accuracy_m: str
    speed_mps: str
    bearing_deg: str
    battery_pct: str
    altitude_m: str | None = None
    charging: str | None = None
    speed_factor: float = 1.0
    battery_factor: float = 1.0
    at_required: bool = True
    #: keys on which -1 means "unknown" (Traccar Client 9 reports speed/heading/battery so)
    minus_one_unknown: frozenset[str] = field(default_factory=frozenset)


BATCH = Spelling(
    lat="lat",
    lon="lon",
    at="at",
    accuracy_m="accuracy_m",
    speed_mps="speed_mps",
    bearing_deg="bearing_deg",
    battery_pct="battery_pct",
    altitude_m="altitude_m",
)

OSMAND = Spelling(
    lat="lat",
    lon="lon",
    at="timestamp",
    accuracy_m="accuracy",
    speed_mps="speed",
    bearing_deg="bearing",
    battery_pct="batt",
    altitude_m="altitude",
    charging="charge",
    speed_factor=KNOT_MPS,
    at_required=False,
)

TRACCAR_JSON = Spelling(
    lat="location.coords.latitude",
    lon="location.coords.longitude",
    at="location.timestamp",
    accuracy_m="location.coords.accuracy",
    speed_mps="location.coords.speed",
    bearing_deg="location.coords.heading",
    battery_pct="location.battery.level",
    altitude_m="location.coords.altitude",
    charging="location.battery.is_charging",
    battery_factor=100.0,
    at_required=False,
    minus_one_unknown=frozenset(
        {"location.coords.speed", "location.coords.heading", "location.battery.level", "location.coords.accuracy"}
    ),
)


def read_fix(
    values: Mapping[str, object],
    *,
    now: datetime,
    limits: PositionLimits = PositionLimits(),
    spelling: Spelling = BATCH,
) -> Fix:
    """One checked fix from a device's raw values (strings or JSON numbers), or InvalidFix."""
    s = spelling
    lat = read_number(values.get(s.lat), s.lat)
    lon = read_number(values.get(s.lon), s.lon)
    if lat is None:
        raise InvalidFix(s.lat, "is required")
    if lon is None:
        raise InvalidFix(s.lon, "is required")
    _within(lat, -90.0, 90.0, s.lat)
    _within(lon, -180.0, 180.0, s.lon)
    return Fix(lat, lon, *_read_details(values, now, limits, s))


def read_message(
    values: Mapping[str, object],
    *,
    now: datetime,
    limits: PositionLimits = PositionLimits(),
    spelling: Spelling = BATCH,
    marked_invalid: bool = False,
) -> Fix | NoFix:
    """A fix, or a NoFix when the values carry no position (neither latitude nor longitude,
    or exactly 0,0) or the device marked its fix invalid. Every value present is checked as in
    a fix: garbage is InvalidFix whether or not there is a position."""
    s = spelling
    if _absent(values.get(s.lat)) and _absent(values.get(s.lon)):
        details = _read_details(values, now, limits, s)
        return NoFix(details.fix_at, NoFixCause.ABSENT, details.battery_pct, read_flag(values, s.charging))
    fix = read_fix(values, now=now, limits=limits, spelling=s)
    charging = read_flag(values, s.charging)
    if fix.lat == 0 and fix.lon == 0:
        return NoFix(fix.fix_at, NoFixCause.ZERO, fix.battery_pct, charging)
    if marked_invalid:
        return NoFix(fix.fix_at, NoFixCause.INVALID, fix.battery_pct, charging)
    return fix


class _Details(NamedTuple):
    """A fix's values besides its position, checked."""

    fix_at: datetime
    accuracy_m: float | None
    speed_mps: float | None
    bearing_deg: float | None
    battery_pct: float | None
    altitude_m: float | None


def _read_details(values: Mapping[str, object], now: datetime, limits: PositionLimits, s: Spelling) -> _Details:
    def optional(key: str | None) -> float | None:
        if key is None:
            return None
        value = read_number(values.get(key), key)
        if value == -1 and key in s.minus_one_unknown:
            return None
        return value

    raw_at = values.get(s.at)
    if raw_at is None or raw_at == "":
        if s.at_required:
            raise InvalidFix(s.at, "is required")
        fix_at = now
    else:
        fix_at = read_timestamp(raw_at, s.at)
    check_fix_time(fix_at, now, limits, s.at)

    accuracy_m = optional(s.accuracy_m)
    if accuracy_m is not None:
        _within(accuracy_m, 0.0, limits.max_accuracy_m, s.accuracy_m)
    speed_mps = optional(s.speed_mps)
    if speed_mps is not None:
        speed_mps *= s.speed_factor
        _within(speed_mps, 0.0, limits.max_speed_mps, s.speed_mps, unit="m/s")
    bearing_deg = optional(s.bearing_deg)
    if bearing_deg is not None:
        _within(bearing_deg, 0.0, 360.0, s.bearing_deg)
        bearing_deg %= 360.0
    battery_pct = optional(s.battery_pct)
    if battery_pct is not None:
        battery_pct *= s.battery_factor
        _within(battery_pct, 0.0, 100.0, s.battery_pct, unit="%")
    altitude_m = optional(s.altitude_m)
    if altitude_m is not None and s.altitude_m is not None:
        _within(altitude_m, limits.min_altitude_m, limits.max_altitude_m, s.altitude_m)
    return _Details(fix_at, accuracy_m, speed_mps, bearing_deg, battery_pct, altitude_m)


def _absent(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_flag(values: Mapping[str, object], key: str | None) -> bool | None:
    """A true/false a device reports: a JSON boolean, or a string that is true only when it says
    "true" (as Java's Boolean.parseBoolean, which Traccar uses); None when absent."""
    if key is None:
        return None
    value = values.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    raise InvalidFix(key, f"must be true or false, not {type(value).__name__}")


def read_number(value: object, field: str) -> float | None:
    """A finite float from a JSON number or a decimal string; None when absent or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidFix(field, "must be a number, not true/false")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InvalidFix(field, f"{_show(value)} is not a number") from None
    else:
        raise InvalidFix(field, f"must be a number, not {type(value).__name__}")
    if not math.isfinite(number):
        raise InvalidFix(field, "must be a finite number")
    return number


def read_timestamp(value: object, field: str) -> datetime:
    """Unix seconds, Unix milliseconds (number or digits), or an ISO 8601 date-time (UTC if no offset),
    also `yyyy-MM-dd HH:mm:ss`: every form Traccar's OsmAnd decoder reads."""
    if isinstance(value, bool):
        raise InvalidFix(field, "must be a Unix time or an ISO 8601 date-time")
    if isinstance(value, str):
        text = value.strip()
        try:
            number: float | None = float(text)
        except ValueError:
            number = None
        if number is None:
            return _iso(text, field)
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise InvalidFix(field, "must be a Unix time or an ISO 8601 date-time")
    if not math.isfinite(number) or number < 0:
        raise InvalidFix(field, "must be a positive Unix time")
    seconds = number / 1000.0 if number >= _MILLISECONDS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidFix(field, f"{_show(value)} is not a believable time") from None


def _iso(text: str, field: str) -> datetime:
    """ISO 8601 as Python reads it (also `yyyy-MM-dd HH:mm:ss[.SSS]`), or Java's zoned form with the
    region after the offset (`…+01:00[Europe/Paris]`); the offset wins, the region serves without one."""
    zone: tzinfo = UTC
    region = _REGION.match(text)
    if region is not None:
        text = region["at"]
        try:
            zone = ZoneInfo(region["region"])
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise InvalidFix(field, f"{_show(region['region'])} is not a known time zone") from None
    try:
        parsed = datetime.fromisoformat(_SPACE_FOR_PLUS.sub(r"\1+\2", text))
    except ValueError:
        raise InvalidFix(field, f"{_show(text)} is not a Unix time or an ISO 8601 date-time") from None
    return parsed.replace(tzinfo=zone).astimezone(UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def check_fix_time(fix_at: datetime, now: datetime, limits: PositionLimits, field: str) -> None:
    """Refuse fixes from the future (beyond clock skew) and too old to matter."""
    ahead_s = (fix_at - now).total_seconds()
    if ahead_s > limits.max_future_s:
        raise InvalidFix(field, f"is {ahead_s:.0f} s in the future (allowed: {limits.max_future_s:g} s of clock skew)")
    age_s = -ahead_s
    if age_s > limits.max_age_s:
        raise InvalidFix(field, f"is {age_s:.0f} s old (kept only up to {limits.max_age_s:g} s)")


def _within(value: float, low: float, high: float, field: str, unit: str = "") -> None:
    if not low <= value <= high:
        suffix = f" {unit}" if unit else ""
        raise InvalidFix(field, f"{value:g}{suffix} is outside {low:g}..{high:g}{suffix}")


def _show(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Arrival(StrEnum):
    """What a fix is to the unit's track when it arrives."""

    NEW = "new"
    OUT_OF_ORDER = "out_of_order"
    REPEATED = "repeated"


def sort_arrivals(fix_times: Sequence[datetime], latest_at: datetime | None) -> list[Arrival]:
    """Per fix, in the order received: a repeat of an earlier fix of the same request, older than
    the newest fix known so far (`latest_at`, then the request's own), or new."""
    seen: set[datetime] = set()
    newest = latest_at
    arrivals: list[Arrival] = []
    for at in fix_times:
        if at in seen:
            arrivals.append(Arrival.REPEATED)
            continue
        seen.add(at)
        if newest is not None and at <= newest:
            arrivals.append(Arrival.OUT_OF_ORDER)
        else:
            arrivals.append(Arrival.NEW)
            newest = at
    return arrivals


def newest(fixes: Sequence[Fix]) -> Fix | None:
    """The fix that is the unit's current position among these."""
    return max(fixes, key=lambda fix: fix.fix_at, default=None)
