"""OsmAnd / Traccar Client query parameters, read as Traccar's own OsmAnd decoder reads them (pure).

Parameters come from a query string or a form, a key possibly repeated (`cell`, `wifi`). Beside
`lat`, `lon`, `timestamp`, `speed` (knots), `bearing`, `altitude`, `accuracy`, `batt`
(`positions.OSMAND`), devices send `location=lat,lon`, `heading` for the bearing, `hdop`,
`charge`, `valid`, `driverUniqueId`, cell towers `cell=mcc,mnc,lac,cid[,rssi]`, Wi-Fi access
points `wifi=mac,rssi`, and keys of their own: none of that is an error. A message without a
usable position is a `NoFix`: the device was heard, its unit stays where it was. A value that
cannot be true is an `InvalidFix` naming the key as the device sent it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from dispatch.positions import OSMAND, Fix, InvalidFix, NoFix, PositionLimits, read_message, read_number

#: The device identifier (our device token): never part of what a device said.
DEVICE_KEYS = frozenset({"id", "deviceid"})

_INTEGER = re.compile(r"[+-]?[0-9]+")
_BELIEVABLE = PositionLimits()


def read_osmand(
    params: Mapping[str, Sequence[str]], *, now: datetime, limits: PositionLimits = _BELIEVABLE
) -> Fix | NoFix:
    """One OsmAnd message (each key with every value it was sent with) → a checked Fix or NoFix."""
    values: dict[str, object] = {key: _last(sent) for key, sent in params.items()}
    spelling = OSMAND
    if _given(values, "heading"):
        heading = read_number(values["heading"], "heading")
        if heading is not None and not 0.0 <= heading <= 360.0:
            raise InvalidFix("heading", f"{heading:g} is outside 0..360")
        if not _given(values, "bearing"):
            spelling = replace(OSMAND, bearing_deg="heading")
    if _given(values, "location"):
        values.update(_location(str(values["location"]), values))
    hdop = read_number(values.get("hdop"), "hdop")
    if hdop is not None and hdop < 0:
        raise InvalidFix("hdop", f"{hdop:g} is below 0")
    for cell in params.get("cell", ()):
        _check_cell(cell)
    for wifi in params.get("wifi", ()):
        _check_wifi(wifi)
    return read_message(values, now=now, limits=limits, spelling=spelling, marked_invalid=_marked_invalid(values))


def what_it_said(params: Mapping[str, Sequence[str]]) -> dict[str, object]:
    """The parameters to keep as the device's report: one value as itself, repeated ones as a list,
    without the device token."""
    return {key: sent[0] if len(sent) == 1 else list(sent) for key, sent in params.items() if key not in DEVICE_KEYS}


def _last(sent: Sequence[str]) -> str:
    """The value that counts when a key is repeated: the last one given (Traccar's decoder sets each
    in turn and skips empty ones)."""
    given = [value for value in sent if value.strip()]
    return given[-1] if given else ""


def _given(values: Mapping[str, object], key: str) -> bool:
    value = values.get(key)
    return isinstance(value, str) and bool(value.strip())


def _location(text: str, values: Mapping[str, object]) -> dict[str, float]:
    """`location=lat,lon` (Traccar reads the first two parts); it must agree with lat/lon if those came too."""
    parts = text.split(",")
    if len(parts) < 2:
        raise InvalidFix("location", f"{text[:40]!r} is not 'latitude,longitude'")
    try:
        lat = read_number(parts[0], "location")
        lon = read_number(parts[1], "location")
    except InvalidFix as error:
        raise InvalidFix("location", f"{text[:40]!r} is not 'latitude,longitude': {error.reason}") from None
    if lat is None or lon is None:
        raise InvalidFix("location", f"{text[:40]!r} is not 'latitude,longitude'")
    if not -90.0 <= lat <= 90.0:
        raise InvalidFix("location", f"latitude {lat:g} is outside -90..90")
    if not -180.0 <= lon <= 180.0:
        raise InvalidFix("location", f"longitude {lon:g} is outside -180..180")
    for key, value in (("lat", lat), ("lon", lon)):
        if _given(values, key) and read_number(values[key], key) != value:
            raise InvalidFix("location", f"{text[:40]!r} disagrees with {key}={str(values[key])[:40]}")
    return {"lat": lat, "lon": lon}


def _check_cell(text: str) -> None:
    """`mcc,mnc,lac,cid[,rssi]`, integers, as Traccar's decoder requires."""
    parts = text.split(",")
    if len(parts) < 4 or not all(_INTEGER.fullmatch(part.strip()) for part in parts[:5]):
        raise InvalidFix("cell", f"{text[:40]!r} is not 'mcc,mnc,lac,cid[,rssi]' in whole numbers")


def _check_wifi(text: str) -> None:
    """`mac,rssi` (the rssi a whole number), as Traccar's decoder requires."""
    parts = text.split(",")
    if len(parts) < 2 or not parts[0].strip() or not _INTEGER.fullmatch(parts[1].strip()):
        raise InvalidFix("wifi", f"{text[:40]!r} is not 'mac,rssi' (rssi a whole number)")


def _marked_invalid(values: Mapping[str, object]) -> bool:
    """`valid` sent and neither "true" nor "1" (Traccar's reading): the device disowns the fix."""
    if not _given(values, "valid"):
        return False
    return str(values["valid"]).strip().lower() not in ("true", "1")
