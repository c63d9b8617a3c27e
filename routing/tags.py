"""Parsers for the OpenStreetMap tags that decide where and how fast a vehicle may drive."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*([a-zA-Z/\"']*)")
_FEET_INCHES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*'\s*(?:(\d+(?:\.\d+)?)\s*\")?\s*$")

KMH_PER_MPH = 1.609344
KMH_PER_KNOT = 1.852

NO_ACCESS = frozenset({"no", "private", "agricultural", "forestry", "military"})


def _number_and_unit(value: str | None) -> tuple[float, str] | None:
    """The number the first of a tag's `;`-separated values starts with ("3,5" is 3.5) and the
    unit after it, lower case; None when it names no number."""
    match = _NUMBER.match(value.split(";")[0]) if value else None
    if match is None:
        return None
    return float(match.group(1).replace(",", ".")), match.group(2).lower()


def parse_maxspeed(value: str | None) -> float:
    """Speed limit in km/h from a `maxspeed` value; NaN when it names no number.

    "50", "50 km/h", "50kmh", "30 mph", "20 knots", "50;30" (first one) parse;
    "none", "signals", "walk", "variable" and country codes such as "RU:urban" give NaN,
    so the caller falls back to the speed of the road class.
    """
    found = _number_and_unit(value)
    if found is None:
        return math.nan
    speed, unit = found
    if unit.startswith("mph"):
        speed *= KMH_PER_MPH
    elif unit.startswith("knot"):
        speed *= KMH_PER_KNOT
    elif unit not in ("", "km/h", "kmh", "kph", "kmph"):
        return math.nan
    return speed if speed > 0 else math.nan


def parse_length_m(value: str | None) -> float:
    """Metres from `width`, `maxwidth` or `maxheight` ("3", "2.5 m", "4 metres", "7'6\\""); NaN if none."""
    if not value:
        return math.nan
    first = value.split(";")[0].strip()
    feet = _FEET_INCHES.match(first)
    if feet is not None:
        inches = float(feet.group(2) or 0.0)
        return (float(feet.group(1)) * 12.0 + inches) * 0.0254
    found = _number_and_unit(first)
    if found is None:
        return math.nan
    number, unit = found
    if unit in ("", "m", "meter", "meters", "metre", "metres"):
        return number if number > 0 else math.nan
    if unit in ("cm",):
        return number / 100.0
    if unit in ("ft", "feet", "'"):
        return number * 0.3048
    return math.nan


def parse_weight_t(value: str | None) -> float:
    """Tonnes from `maxweight` ("3.5", "3.5 t", "7500 kg", "5 st"); NaN if none."""
    found = _number_and_unit(value)
    if found is None:
        return math.nan
    number, unit = found
    if unit in ("", "t", "ton", "tons", "tonne", "tonnes"):
        return number if number > 0 else math.nan
    if unit == "kg":
        return number / 1000.0
    if unit == "st":  # short tons
        return number * 0.90718474
    if unit in ("lbs", "lb"):
        return number * 0.00045359237
    return math.nan


def oneway_direction(tags: Mapping[str, str]) -> int | None:
    """+1 forward only, -1 backward only, 0 both ways, None when the way cannot be used
    (`oneway=reversible`: its direction changes during the day)."""
    value = tags.get("oneway", "").strip().lower()
    if value in ("yes", "true", "1"):
        return 1
    if value in ("-1", "reverse"):
        return -1
    if value == "reversible":
        return None
    if value in ("no", "false", "0", "alternating"):
        return 0
    if tags.get("junction") in ("roundabout", "circular"):
        return 1
    if tags.get("highway") == "motorway":
        return 1
    return 0


def motor_access(tags: Mapping[str, str]) -> str:
    """The access value that applies to cars: the most specific of motorcar,
    motor_vehicle, vehicle, access; "yes" when none is tagged."""
    for key in ("motorcar", "motor_vehicle", "vehicle", "access"):
        value = tags.get(key)
        if value:
            return value.split(";")[0].strip().lower()
    return "yes"


def is_motor_accessible(tags: Mapping[str, str], *, emergency_override: bool = False) -> bool:
    """False for `access=no/private`, `motor_vehicle=no`, `motorcar=no` (most specific wins).

    With `emergency_override`, `emergency=yes/designated` keeps such a way (emergency
    vehicles may use it by law).
    """
    if motor_access(tags) not in NO_ACCESS:
        return True
    return emergency_override and tags.get("emergency") in ("yes", "designated")
