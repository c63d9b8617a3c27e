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
- every RFC 5491 shape is read: Point, Circle, Sphere, Ellipse, Ellipsoid, ArcBand,
  Polygon and Prism, 2D (EPSG 4326) or 3D (EPSG 4979: a ``posList`` without
  ``srsDimension`` then holds lat lon alt triples). Each becomes its centroid and a
  horizontal radius in metres that contains the whole shape: none for a Point, the
  radius for a Circle or Sphere, the semi-major axis for an Ellipse or Ellipsoid, for a
  Polygon or a Prism's base the area centroid and its farthest vertex, for an ArcBand
  (angles in degrees, EPSG::9102, or radians, EPSG::9101, clockwise from north) the
  centroid of the annular sector and its farthest corner. Altitudes, a Prism's height
  and an Ellipsoid's vertical axis do not change where to send a crew and are not read;
- distances are geodesics on the WGS 84 ellipsoid (geopy); areas and centroids are taken
  (with shapely) on the plane tangent to the ellipsoid at the shape, exact to well under a
  metre for shapes of tens of kilometres;
- other geodetic shapes are skipped; no usable shape and no civic address raises
  ``MalformedLocation``.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from geopy.distance import geodesic
from shapely.geometry import Polygon

MAX_PIDF_BYTES = 64 * 1024
WGS84_A_M = 6_378_137.0
WGS84_F = 1 / 298.257223563
_E2 = WGS84_F * (2 - WGS84_F)
METRE_UOMS = frozenset({"urn:ogc:def:uom:EPSG::9001", "EPSG::9001", "9001"})
DEGREE_UOMS = frozenset({"urn:ogc:def:uom:EPSG::9102", "EPSG::9102", "9102"})
RADIAN_UOMS = frozenset({"urn:ogc:def:uom:EPSG::9101", "EPSG::9101", "9101"})
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DMS = re.compile(r"(\d{1,3}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)([NSEW])")
_GEODETIC = {
    "Point": "point",
    "Circle": "circle",
    "Sphere": "sphere",
    "Ellipse": "ellipse",
    "Ellipsoid": "ellipsoid",
    "ArcBand": "arcband",
    "Polygon": "polygon",
    "Prism": "prism",
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
    srs = _srs(element, name, None)
    if shape == "polygon":
        return _polygon(element, srs, name, "polygon")
    if shape == "prism":
        base = next((e for e in element if _local(e.tag) == "base"), None)
        polygon = next((e for e in base if _local(e.tag) == "Polygon"), None) if base is not None else None
        if polygon is None:
            raise MalformedLocation("Prism: no <gs:base><gml:Polygon>")
        return _polygon(polygon, _srs(polygon, "Prism/base/Polygon", srs), "Prism/base/Polygon", "prism")
    lat, lon = _position(element, name)
    radius_m: float | None = None
    if shape in ("circle", "sphere"):
        radius_m = _length(element, "radius", name)
    elif shape in ("ellipse", "ellipsoid"):  # the semi-major axis, unless a sender swapped the two
        radius_m = _length(element, "semiMajorAxis", name)
        if any(_local(child.tag) == "semiMinorAxis" for child in element):
            radius_m = max(radius_m, _length(element, "semiMinorAxis", name))
    elif shape == "arcband":
        return _arc_band(element, lat, lon)
    return _Geodetic(lat, lon, radius_m, shape)


def _srs(element: ET.Element, where: str, inherited: str | None) -> str | None:
    srs = element.get("srsName")
    if srs is None:
        return inherited
    if not re.search(r"(?:^|:)(4326|4979)$", srs.strip()):
        raise MalformedLocation(f"{where} srsName: {srs!r} is not WGS 84 (EPSG 4326/4979)")
    return srs.strip()


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


def _angle_deg(shape: ET.Element, name: str, where: str) -> float:
    for child in shape:
        if _local(child.tag) == name:
            uom = (child.get("uom") or "").strip()
            if uom and uom not in DEGREE_UOMS | RADIAN_UOMS:
                raise MalformedLocation(f"{where}/{name}: unit {uom!r} is not degrees (EPSG::9102) or radians (9101)")
            value = _number((child.text or "").strip(), f"{where}/{name}")
            return math.degrees(value) if uom in RADIAN_UOMS else value
    raise MalformedLocation(f"{where}: no <{name}>")


def _arc_band(element: ET.Element, lat: float, lon: float) -> _Geodetic:
    """The centroid of the annular sector and the farthest point of the sector from it.

    On the plane tangent at the centre, the sector's centroid lies on the bisector of the
    opening at ``d = 2 sin(h) / 3h * (R^3 - r^3) / (R^2 - r^2)`` (h the half opening). Seen
    from a point of the bisector, distance grows along each arc away from the bisector and
    is convex along each straight edge, so the farthest point is one of the four corners.
    """
    inner = _length(element, "innerRadius", "ArcBand")
    outer = _length(element, "outerRadius", "ArcBand")
    if inner > outer:
        raise MalformedLocation(f"ArcBand/innerRadius: {inner} m is beyond the outerRadius, {outer} m")
    start = _angle_deg(element, "startAngle", "ArcBand") % 360.0
    opening = _angle_deg(element, "openingAngle", "ArcBand")
    if 360.0 < opening <= 360.001:  # a full turn in radians, rounded up (6.28319)
        opening = 360.0
    if not 0.0 <= opening <= 360.0:
        raise MalformedLocation(f"ArcBand/openingAngle: {opening:g} degrees is outside [0, 360]")
    half = math.radians(opening) / 2
    shrink = math.sin(half) / half if half > 1e-12 else 1.0
    distance_m = 0.0
    if outer > 0:
        distance_m = 2.0 / 3.0 * (outer * outer + outer * inner + inner * inner) / (outer + inner) * shrink
    radius_m = max(
        math.sqrt(max(0.0, r * r + distance_m * distance_m - 2.0 * r * distance_m * math.cos(half)))
        for r in (inner, outer)
    )
    bearing = math.radians(start) + half
    centroid = _Plane(lat, lon).geodetic(distance_m * math.sin(bearing), distance_m * math.cos(bearing))
    return _Geodetic(centroid[0], centroid[1], radius_m, "arcband")


def _polygon(polygon: ET.Element, srs: str | None, where: str, shape: str) -> _Geodetic:
    exterior = next((e for e in polygon if _local(e.tag) in ("exterior", "outerBoundaryIs")), None)
    ring = next((e for e in exterior if _local(e.tag) == "LinearRing"), None) if exterior is not None else None
    if ring is None:
        raise MalformedLocation(f"{where}: no <gml:exterior><gml:LinearRing>")
    tokens: list[str] = []
    for child in ring:
        if _local(child.tag) == "pos":
            pair = (child.text or "").split()
            if len(pair) not in (2, 3):
                raise MalformedLocation(f"{where}/pos: expected 'lat lon', got {len(pair)} numbers")
            tokens += pair[:2]
        elif _local(child.tag) == "posList":
            values = (child.text or "").split()
            step = _dimension([child, ring, polygon], srs, f"{where}/posList")
            if len(values) % step:
                raise MalformedLocation(f"{where}/posList: {len(values)} numbers are not whole {step}D positions")
            for i in range(0, len(values), step):
                tokens += values[i : i + 2]
    vertices = [_checked(_number(a, where), _number(b, where), where) for a, b in _pairs(tokens)]
    if len(vertices) > 1 and vertices[0] == vertices[-1]:
        vertices.pop()
    if len(vertices) < 3:
        raise MalformedLocation(f"{where}: {len(vertices)} distinct vertices, need at least 3")
    lat, lon = _centroid(vertices)
    radius_m = max(_distance_m(lat, lon, vlat, vlon) for vlat, vlon in vertices)
    return _Geodetic(lat, lon, radius_m, shape)


def _dimension(elements: list[ET.Element], srs: str | None, where: str) -> int:
    """Numbers per position in a posList: the nearest ``srsDimension``, else 3 for EPSG 4979, else 2."""
    for element in elements:
        declared = element.get("srsDimension")
        if declared is not None:
            if declared.strip() not in ("2", "3"):
                raise MalformedLocation(f"{where}: srsDimension {declared[:20]!r} is not 2 or 3")
            return int(declared)
    return 3 if srs is not None and srs.endswith("4979") else 2


def _pairs(tokens: list[str]) -> list[tuple[str, str]]:
    return list(zip(tokens[0::2], tokens[1::2], strict=True))


def _centroid(vertices: list[tuple[float, float]]) -> tuple[float, float]:
    """Area centroid on the plane tangent at the vertices' mean (fine for uncertainty areas)."""
    corners = [_ecef(lat, lon) for lat, lon in vertices]
    plane = _Plane(*_geodetic_of(*(sum(axis) / len(corners) for axis in zip(*corners, strict=True))))
    points = [plane.local(lat, lon) for lat, lon in vertices]
    ring = Polygon(points)
    if ring.area < 5e-7:  # degenerate ring (under a square millimetre): mean of the vertices
        return plane.geodetic(sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points))
    centre = ring.centroid  # shapely's area centroid (a self-crossing ring's too, as the shoelace formula gives it)
    return plane.geodetic(float(centre.x), float(centre.y))


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Along the ground: the geodesic on WGS 84 (geopy; the parsers may not import `routing.geo`)."""
    return float(geodesic((lat1, lon1), (lat2, lon2)).meters)


def _ecef(lat: float, lon: float) -> tuple[float, float, float]:
    """Earth-centred, Earth-fixed coordinates (metres) of a point on the WGS 84 ellipsoid."""
    phi, lam = math.radians(lat), math.radians(lon)
    n = WGS84_A_M / math.sqrt(1 - _E2 * math.sin(phi) ** 2)
    return n * math.cos(phi) * math.cos(lam), n * math.cos(phi) * math.sin(lam), n * (1 - _E2) * math.sin(phi)


def _geodetic_of(x: float, y: float, z: float) -> tuple[float, float]:
    """Latitude and longitude under an ECEF point near the surface (Bowring, sub-millimetre there)."""
    b = WGS84_A_M * (1 - WGS84_F)
    p = math.hypot(x, y)
    theta = math.atan2(z * WGS84_A_M, p * b)
    lat = math.atan2(z + _E2 / (1 - _E2) * b * math.sin(theta) ** 3, p - _E2 * WGS84_A_M * math.cos(theta) ** 3)
    return math.degrees(lat), math.degrees(math.atan2(y, x))


@dataclass(frozen=True)
class _Plane:
    """The plane tangent to the WGS 84 ellipsoid at (lat, lon): x east, y north, in metres."""

    lat: float
    lon: float

    def _axes(self) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        phi, lam = math.radians(self.lat), math.radians(self.lon)
        east = (-math.sin(lam), math.cos(lam), 0.0)
        north = (-math.sin(phi) * math.cos(lam), -math.sin(phi) * math.sin(lam), math.cos(phi))
        return east, north

    def local(self, lat: float, lon: float) -> tuple[float, float]:
        delta = [p - o for p, o in zip(_ecef(lat, lon), _ecef(self.lat, self.lon), strict=True)]
        east, north = self._axes()
        return sum(d * e for d, e in zip(delta, east, strict=True)), sum(
            d * n for d, n in zip(delta, north, strict=True)
        )

    def geodetic(self, x: float, y: float) -> tuple[float, float]:
        east, north = self._axes()
        origin = _ecef(self.lat, self.lon)
        return _geodetic_of(*(o + x * e + y * n for o, e, n in zip(origin, east, north, strict=True)))
