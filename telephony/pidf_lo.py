"""Caller location from a SIP PIDF-LO document (RFC 4119, RFC 5491 shapes, RFC 5139/4776 civic).

Pure: bytes or text in, a frozen :class:`CallerLocation` out. Every problem with the
document raises :class:`MalformedLocation` (a ``ValueError``) naming the element at
fault, so the SIP agent can take the call anyway and log why it has no location.

Choices:
- elements are matched by local name, whatever namespace a sender used (GML 3.0 and
  3.1 URIs, RFC 4119 ``civicLoc`` and RFC 5139 ``civicAddr`` are all seen in the wild);
- the first geodetic shape in document order wins; the first civic address is kept
  beside it; ``method`` and ``timestamp`` come from the element holding the chosen shape;
- a timestamp that does not parse is dropped (``None``) rather than losing the location;
  one without a zone is taken as UTC;
- geodetic shapes other than Point, Circle, Sphere, Ellipse, Ellipsoid and Polygon are
  skipped; no usable shape and no civic address raises ``MalformedLocation``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

MAX_PIDF_BYTES = 64 * 1024
EARTH_RADIUS_M = 6_371_008.8
METRE_UOMS = frozenset({"urn:ogc:def:uom:EPSG::9001", "EPSG::9001", "9001"})
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DMS = re.compile(r"(\d{1,3}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)([NSEW])")
_GEODETIC = {
    "Point": "point",
    "Circle": "circle",
    "Sphere": "circle",
    "Ellipse": "ellipse",
    "Ellipsoid": "ellipse",
    "Polygon": "polygon",
}


class MalformedLocation(ValueError):
    """The PIDF-LO document cannot give a trustworthy caller location."""


@dataclass(frozen=True)
class CallerLocation:
    """Where the caller is, as the network or handset said, with its accuracy."""

    lat: float | None
    lon: float | None
    radius_m: float | None
    shape: str
    civic: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    method: str | None = None
    timestamp: datetime | None = None
    entity: str | None = None


@dataclass(frozen=True)
class _Geodetic:
    lat: float
    lon: float
    radius_m: float | None
    shape: str


def parse_pidf_lo(document: bytes | str) -> CallerLocation:
    """Read the caller's location from a PIDF-LO document, refusing hostile or broken XML."""
    root = _parse_xml(document)
    if _local(root.tag) != "presence":
        raise MalformedLocation(f"root element is <{_local(root.tag)}>, expected <presence>")
    geodetic: _Geodetic | None = None
    civic: dict[str, str] = {}
    geo_meta: tuple[str | None, datetime | None] | None = None
    civic_meta: tuple[str | None, datetime | None] = (None, None)
    for holder in root:  # <tuple>, <dm:device>, <dm:person>
        for geopriv in (e for e in holder.iter() if _local(e.tag) == "geopriv"):
            meta = (_child_text(geopriv, "method"), _timestamp(_child_text(holder, "timestamp")))
            for info in (e for e in geopriv if _local(e.tag) == "location-info"):
                for element in info:
                    if _local(element.tag) in ("civicAddress", "civicLoc"):
                        if not civic:
                            civic, civic_meta = _civic(element), meta
                    elif geodetic is None:
                        geodetic = _geodetic(element)
                        geo_meta = meta if geodetic is not None else None
    if geodetic is None and not civic:
        raise MalformedLocation("location-info: no supported geodetic shape or civic address")
    method, timestamp = geo_meta or civic_meta
    entity = root.get("entity")
    if geodetic is None:
        return CallerLocation(None, None, None, "civic", civic, _address(civic), method, timestamp, entity)
    return CallerLocation(
        geodetic.lat, geodetic.lon, geodetic.radius_m, geodetic.shape, civic, _address(civic), method, timestamp, entity
    )


def _parse_xml(document: bytes | str) -> ET.Element:
    try:
        size = len(document.encode("utf-8")) if isinstance(document, str) else len(document)
        if size > MAX_PIDF_BYTES:
            raise MalformedLocation(f"document: {size} bytes, more than the {MAX_PIDF_BYTES} allowed")
        root: ET.Element = SafeET.fromstring(document, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MalformedLocation(f"document: forbidden XML construct ({type(exc).__name__})") from exc
    except ET.ParseError as exc:
        raise MalformedLocation(f"document: not well-formed XML ({exc})") from exc
    except UnicodeError as exc:
        raise MalformedLocation(f"document: bad character encoding ({exc})") from exc
    return root


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child_text(parent: ET.Element, name: str) -> str | None:
    for child in parent:
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def _timestamp(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _civic(element: ET.Element) -> dict[str, str]:
    civic: dict[str, str] = {}
    for child in element:
        name = _local(child.tag)
        if len(child) == 0 and child.text and child.text.strip() and name not in civic:
            civic[name] = " ".join(child.text.split())
    return civic


def _address(civic: dict[str, str]) -> str | None:
    """One line, Indonesian order: building, street and number, floor, area, city, province postcode."""
    street = " ".join(civic[k] for k in ("PRD", "RD", "STS", "POD") if k in civic)
    number = "".join(civic[k] for k in ("HNO", "HNS") if k in civic)
    if number:
        street = f"{street} No. {number}".strip()
    parts = [civic.get("NAM", ""), street, f"Lt. {civic['FLR']}" if "FLR" in civic else "", civic.get("LOC", "")]
    parts += [civic.get(k, "") for k in ("LMK", "A6", "A5", "A4", "A3", "A2", "A1")]
    kept: list[str] = []
    for part in parts:
        if part and (not kept or kept[-1].casefold() != part.casefold()):
            kept.append(part)
    if "PC" in civic:
        last = kept.pop() if kept else ""
        kept.append(f"{last} {civic['PC']}".strip())
    return ", ".join(kept) or None


def _geodetic(element: ET.Element) -> _Geodetic | None:
    name = _local(element.tag)
    if name == "location" and len(element) > 0:  # RFC 4119 wraps the shape in <gml:location>
        return _geodetic(element[0])
    shape = _GEODETIC.get(name)
    if shape is None:
        return None
    srs = element.get("srsName")
    if srs is not None and not re.search(r"(?:^|:)(4326|4979)$", srs.strip()):
        raise MalformedLocation(f"{name} srsName: {srs!r} is not WGS 84 (EPSG 4326/4979)")
    if shape == "polygon":
        return _polygon(element)
    lat, lon = _position(element, name)
    radius_m: float | None = None
    if shape == "circle":
        radius_m = _length(element, "radius", name)
    elif shape == "ellipse":
        radius_m = _length(element, "semiMajorAxis", name)
    return _Geodetic(lat, lon, radius_m, shape)


def _position(shape: ET.Element, name: str) -> tuple[float, float]:
    for child in shape:
        if _local(child.tag) == "pos":
            return _lat_lon((child.text or "").split(), f"{name}/pos")
        if _local(child.tag) == "coordinates":
            return _coordinates(child.text or "", f"{name}/coordinates")
    raise MalformedLocation(f"{name}: no <gml:pos>")


def _coordinates(text: str, where: str) -> tuple[float, float]:
    """RFC 4119's ``37:46:30N 122:25:10W``, or plain ``lat lon`` / ``lat,lon``."""
    found = _DMS.findall(text)
    if len(found) == 2:
        values = []
        for degrees, minutes, seconds, hemisphere in found:
            value = float(degrees) + float(minutes) / 60 + float(seconds) / 3600
            values.append(-value if hemisphere in "SW" else value)
        return _checked(values[0], values[1], where)
    return _lat_lon(text.replace(",", " ").split(), where)


def _lat_lon(tokens: list[str], where: str) -> tuple[float, float]:
    if len(tokens) not in (2, 3):
        raise MalformedLocation(f"{where}: expected 'lat lon', got {len(tokens)} numbers")
    return _checked(_number(tokens[0], where), _number(tokens[1], where), where)


def _checked(lat: float, lon: float, where: str) -> tuple[float, float]:
    if not -90.0 <= lat <= 90.0:
        raise MalformedLocation(f"{where}: latitude {lat} outside [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise MalformedLocation(f"{where}: longitude {lon} outside [-180, 180]")
    return lat, lon


def _number(token: str, where: str) -> float:
    if not _NUMBER.fullmatch(token):
        raise MalformedLocation(f"{where}: {token[:40]!r} is not a number")
    value = float(token)
    if not math.isfinite(value):
        raise MalformedLocation(f"{where}: {token[:40]!r} is not finite")
    return value


def _length(shape: ET.Element, name: str, where: str) -> float:
    for child in shape:
        if _local(child.tag) == name:
            uom = child.get("uom")
            if uom is not None and uom.strip() not in METRE_UOMS:
                raise MalformedLocation(f"{where}/{name}: unit {uom!r} is not metres (EPSG::9001)")
            value = _number((child.text or "").strip(), f"{where}/{name}")
            if value < 0:
                raise MalformedLocation(f"{where}/{name}: negative length {value}")
            return value
    raise MalformedLocation(f"{where}: no <{name}>")


def _polygon(polygon: ET.Element) -> _Geodetic:
    exterior = next((e for e in polygon if _local(e.tag) in ("exterior", "outerBoundaryIs")), None)
    ring = next((e for e in exterior if _local(e.tag) == "LinearRing"), None) if exterior is not None else None
    if ring is None:
        raise MalformedLocation("Polygon: no <gml:exterior><gml:LinearRing>")
    tokens: list[str] = []
    for child in ring:
        if _local(child.tag) == "pos":
            pair = (child.text or "").split()
            if len(pair) not in (2, 3):
                raise MalformedLocation(f"Polygon/pos: expected 'lat lon', got {len(pair)} numbers")
            tokens += pair[:2]
        elif _local(child.tag) == "posList":
            values = (child.text or "").split()
            step = 3 if ring.get("srsDimension") == "3" or child.get("srsDimension") == "3" else 2
            if len(values) % step:
                raise MalformedLocation("Polygon/posList: odd number of coordinates")
            for i in range(0, len(values), step):
                tokens += values[i : i + 2]
    vertices = [_checked(_number(a, "Polygon"), _number(b, "Polygon"), "Polygon") for a, b in _pairs(tokens)]
    if len(vertices) > 1 and vertices[0] == vertices[-1]:
        vertices.pop()
    if len(vertices) < 3:
        raise MalformedLocation(f"Polygon: {len(vertices)} distinct vertices, need at least 3")
    lat, lon = _centroid(vertices)
    radius_m = max(_distance_m(lat, lon, vlat, vlon) for vlat, vlon in vertices)
    return _Geodetic(lat, lon, radius_m, "polygon")


def _pairs(tokens: list[str]) -> list[tuple[str, str]]:
    return list(zip(tokens[0::2], tokens[1::2], strict=True))


def _centroid(vertices: list[tuple[float, float]]) -> tuple[float, float]:
    """Area centroid on a local flat projection around the first vertex (fine for uncertainty areas)."""
    lat0, lon0 = vertices[0]
    scale = math.cos(math.radians(lat0))
    points = [(((lon - lon0 + 180.0) % 360.0 - 180.0) * scale, lat - lat0) for lat, lon in vertices]
    area2 = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        cross = x1 * y2 - x2 * y1
        area2 += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if abs(area2) < 1e-18:  # degenerate ring: mean of the vertices
        cx, cy = sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points)
    else:
        cx, cy = cx / (3.0 * area2), cy / (3.0 * area2)
    lon = lon0 + (cx / scale if scale > 1e-12 else 0.0)
    return lat0 + cy, (lon + 180.0) % 360.0 - 180.0


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
