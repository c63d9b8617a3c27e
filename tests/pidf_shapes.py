"""RFC 5491 shapes as PIDF-LO documents, with their centroid and extent worked out independently
of `telephony.pidf_lo`: Vincenty's geodesics on WGS 84, each shape drawn densely in an
azimuthal equidistant plane (where an ArcBand, a circle or an ellipse is exactly its
definition), and shapely's area centroid. Shared by the unit tests and the SIP end-to-end tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from shapely.geometry import Polygon

A_M = 6_378_137.0
F = 1 / 298.257223563
B_M = A_M * (1 - F)

HEAD = (
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
    ' xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml"'
    ' xmlns:gs="http://www.opengis.net/pidflo/1.0" entity="tel:+6281234567890">'
)
CRS_2D = "urn:ogc:def:crs:EPSG::4326"
CRS_3D = "urn:ogc:def:crs:EPSG::4979"
METRES = "urn:ogc:def:uom:EPSG::9001"
DEGREES = "urn:ogc:def:uom:EPSG::9102"
RADIANS = "urn:ogc:def:uom:EPSG::9101"


def _series(u2: float) -> tuple[float, float]:
    big_a = 1 + u2 / 16384 * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)))
    big_b = u2 / 1024 * (256 + u2 * (-128 + u2 * (74 - 47 * u2)))
    return big_a, big_b


def _delta_sigma(big_b: float, sin_s: float, cos_s: float, cos_2sm: float) -> float:
    return (
        big_b
        * sin_s
        * (
            cos_2sm
            + big_b
            / 4
            * (cos_s * (-1 + 2 * cos_2sm**2) - big_b / 6 * cos_2sm * (-3 + 4 * sin_s**2) * (-3 + 4 * cos_2sm**2))
        )
    )


def geodesic_inverse(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """Vincenty (1975): the distance in metres and the azimuth at the first point, degrees from north."""
    u1, u2_ = math.atan((1 - F) * math.tan(math.radians(lat1))), math.atan((1 - F) * math.tan(math.radians(lat2)))
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2_), math.cos(u2_)
    big_l = math.radians(lon2 - lon1)
    lam = big_l
    for _ in range(200):
        sin_l, cos_l = math.sin(lam), math.cos(lam)
        sin_s = math.hypot(cos_u2 * sin_l, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_l)
        if sin_s == 0:
            return 0.0, 0.0
        cos_s = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_l
        sigma = math.atan2(sin_s, cos_s)
        sin_alpha = cos_u1 * cos_u2 * sin_l / sin_s
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_s - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = F / 16 * cos2_alpha * (4 + F * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * F * sin_alpha * (sigma + c * sin_s * (cos_2sm + c * cos_s * (-1 + 2 * cos_2sm**2)))
        if abs(lam - previous) < 1e-13:
            break
    big_a, big_b = _series(cos2_alpha * (A_M**2 - B_M**2) / B_M**2)
    distance = B_M * big_a * (sigma - _delta_sigma(big_b, sin_s, cos_s, cos_2sm))
    azimuth = math.atan2(cos_u2 * math.sin(lam), cos_u1 * sin_u2 - sin_u1 * cos_u2 * math.cos(lam))
    return distance, math.degrees(azimuth) % 360


def geodesic_direct(lat: float, lon: float, azimuth_deg: float, distance_m: float) -> tuple[float, float]:
    """Vincenty (1975): where a geodesic from (lat, lon) at this azimuth ends after this many metres."""
    alpha1 = math.radians(azimuth_deg)
    tan_u1 = (1 - F) * math.tan(math.radians(lat))
    cos_u1 = 1 / math.sqrt(1 + tan_u1**2)
    sin_u1 = tan_u1 * cos_u1
    sigma1 = math.atan2(tan_u1, math.cos(alpha1))
    sin_alpha = cos_u1 * math.sin(alpha1)
    cos2_alpha = 1 - sin_alpha**2
    big_a, big_b = _series(cos2_alpha * (A_M**2 - B_M**2) / B_M**2)
    sigma = distance_m / (B_M * big_a)
    for _ in range(200):
        cos_2sm = math.cos(2 * sigma1 + sigma)
        previous = sigma
        sigma = distance_m / (B_M * big_a) + _delta_sigma(big_b, math.sin(sigma), math.cos(sigma), cos_2sm)
        if abs(sigma - previous) < 1e-13:
            break
    sin_s, cos_s, cos_2sm = math.sin(sigma), math.cos(sigma), math.cos(2 * sigma1 + sigma)
    tmp = sin_u1 * sin_s - cos_u1 * cos_s * math.cos(alpha1)
    lat2 = math.atan2(sin_u1 * cos_s + cos_u1 * sin_s * math.cos(alpha1), (1 - F) * math.sqrt(sin_alpha**2 + tmp**2))
    lam = math.atan2(sin_s * math.sin(alpha1), cos_u1 * cos_s - sin_u1 * sin_s * math.cos(alpha1))
    c = F / 16 * cos2_alpha * (4 + F * (4 - 3 * cos2_alpha))
    big_l = lam - (1 - c) * F * sin_alpha * (sigma + c * sin_s * (cos_2sm + c * cos_s * (-1 + 2 * cos_2sm**2)))
    return math.degrees(lat2), (lon + math.degrees(big_l) + 180) % 360 - 180


@dataclass(frozen=True)
class Equidistant:
    """Azimuthal equidistant plane at (lat, lon): x east, y north, true distance and azimuth from the centre."""

    lat: float
    lon: float

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        distance, azimuth = geodesic_inverse(self.lat, self.lon, lat, lon)
        return distance * math.sin(math.radians(azimuth)), distance * math.cos(math.radians(azimuth))

    def lat_lon(self, x: float, y: float) -> tuple[float, float]:
        return geodesic_direct(self.lat, self.lon, math.degrees(math.atan2(x, y)), math.hypot(x, y))


@dataclass(frozen=True)
class Expected:
    """A shape's true centroid and densely sampled outline (lat, lon)."""

    lat: float
    lon: float
    outline: tuple[tuple[float, float], ...]

    def farthest_m(self, lat: float, lon: float) -> float:
        """The greatest distance from (lat, lon) to the shape: the farthest point is on its outline."""
        return max(geodesic_inverse(lat, lon, plat, plon)[0] for plat, plon in self.outline)

    @property
    def radius_m(self) -> float:
        return self.farthest_m(self.lat, self.lon)


def _from_plane(plane: Equidistant, ring: list[tuple[float, float]]) -> Expected:
    polygon = Polygon(ring)
    assert polygon.is_valid and polygon.area > 0
    lat, lon = plane.lat_lon(polygon.centroid.x, polygon.centroid.y)
    return Expected(lat, lon, tuple(plane.lat_lon(x, y) for x, y in ring))


def _turn(start_deg: float, opening_deg: float, steps: int) -> list[float]:
    return [math.radians(start_deg + opening_deg * i / steps) for i in range(steps + 1)]


def expected_arc_band(
    lat: float, lon: float, inner_m: float, outer_m: float, start_deg: float, opening_deg: float
) -> Expected:
    plane = Equidistant(lat, lon)
    angles = _turn(start_deg, opening_deg, 1440)
    ring = [(outer_m * math.sin(a), outer_m * math.cos(a)) for a in angles]
    if inner_m > 0:
        ring += [(inner_m * math.sin(a), inner_m * math.cos(a)) for a in reversed(angles)]
    else:
        ring.append((0.0, 0.0))
    if opening_deg >= 360:  # a whole ring: its centre by symmetry, the outer circle as outline
        return Expected(lat, lon, tuple(plane.lat_lon(x, y) for x, y in ring[:1441]))
    return _from_plane(plane, ring)


def expected_ellipse(lat: float, lon: float, major_m: float, minor_m: float, orientation_deg: float) -> Expected:
    """RFC 5491: the orientation is the semi-major axis' angle clockwise from north."""
    plane = Equidistant(lat, lon)
    o = math.radians(orientation_deg)
    major, minor = (math.sin(o), math.cos(o)), (math.cos(o), -math.sin(o))
    ring = [
        (major_m * math.cos(t) * major[0] + minor_m * math.sin(t) * minor[0],
         major_m * math.cos(t) * major[1] + minor_m * math.sin(t) * minor[1])
        for t in _turn(0, 360, 1440)[:-1]
    ]  # fmt: skip
    return _from_plane(plane, ring)


def expected_circle(lat: float, lon: float, radius_m: float) -> Expected:
    return expected_ellipse(lat, lon, radius_m, radius_m, 0.0)


def expected_polygon(vertices: list[tuple[float, float]]) -> Expected:
    """Straight edges drawn in the plane at the first vertex, each cut into 200 pieces."""
    plane = Equidistant(*vertices[0])
    corners = [plane.xy(lat, lon) for lat, lon in vertices]
    ring = []
    for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True):
        ring += [(x1 + (x2 - x1) * i / 200, y1 + (y2 - y1) * i / 200) for i in range(200)]
    return _from_plane(plane, ring)


def document(shape: str) -> str:
    """A one-device PIDF-LO around a location-info body."""
    return (
        f'{HEAD}<dm:device id="d"><gp:geopriv><gp:location-info>{shape}</gp:location-info>'
        "<gp:usage-rules/><gp:method>Cell</gp:method></gp:geopriv></dm:device></presence>"
    )


def arc_band(
    lat: float,
    lon: float,
    inner_m: float,
    outer_m: float,
    start: float,
    opening: float,
    angle_uom: str = DEGREES,
) -> str:
    return document(
        f'<gs:ArcBand srsName="{CRS_2D}"><gml:pos>{lat} {lon}</gml:pos>'
        f'<gs:innerRadius uom="{METRES}">{inner_m}</gs:innerRadius>'
        f'<gs:outerRadius uom="{METRES}">{outer_m}</gs:outerRadius>'
        f'<gs:startAngle uom="{angle_uom}">{start}</gs:startAngle>'
        f'<gs:openingAngle uom="{angle_uom}">{opening}</gs:openingAngle></gs:ArcBand>'
    )


def ellipsoid(lat: float, lon: float, alt: float, major_m: float, minor_m: float, vertical_m: float, o: float) -> str:
    return document(
        f'<gs:Ellipsoid srsName="{CRS_3D}"><gml:pos>{lat} {lon} {alt}</gml:pos>'
        f'<gs:semiMajorAxis uom="{METRES}">{major_m}</gs:semiMajorAxis>'
        f'<gs:semiMinorAxis uom="{METRES}">{minor_m}</gs:semiMinorAxis>'
        f'<gs:verticalAxis uom="{METRES}">{vertical_m}</gs:verticalAxis>'
        f'<gs:orientation uom="{DEGREES}">{o}</gs:orientation></gs:Ellipsoid>'
    )


def sphere(lat: float, lon: float, alt: float, radius_m: float) -> str:
    return document(
        f'<gs:Sphere srsName="{CRS_3D}"><gml:pos>{lat} {lon} {alt}</gml:pos>'
        f'<gs:radius uom="{METRES}">{radius_m}</gs:radius></gs:Sphere>'
    )


def _pos_list(vertices: list[tuple[float, float]], alt: float | None, srs_dimension: str | None) -> str:
    ring = [*vertices, vertices[0]]
    numbers = " ".join(f"{lat} {lon}" + ("" if alt is None else f" {alt}") for lat, lon in ring)
    attribute = f' srsDimension="{srs_dimension}"' if srs_dimension else ""
    return (
        f"<gml:exterior><gml:LinearRing><gml:posList{attribute}>{numbers}</gml:posList></gml:LinearRing></gml:exterior>"
    )


def polygon_3d(vertices: list[tuple[float, float]], alt: float, srs_dimension: str | None) -> str:
    """A 3D polygon as one posList of lat lon alt triples, with or without srsDimension="3"."""
    return document(f'<gml:Polygon srsName="{CRS_3D}">{_pos_list(vertices, alt, srs_dimension)}</gml:Polygon>')


def prism(vertices: list[tuple[float, float]], alt: float, height_m: float) -> str:
    """RFC 5491 §5.2.7: a 3D polygon base (srsName on the Prism only) and a height."""
    return document(
        f'<gs:Prism srsName="{CRS_3D}"><gs:base><gml:Polygon>{_pos_list(vertices, alt, None)}</gml:Polygon></gs:base>'
        f'<gs:height uom="{METRES}">{height_m}</gs:height></gs:Prism>'
    )


# The parser works on a tangent plane, the expectations on Vincenty's geodesics: they agree to
# millimetres, so these allowances are geodesy noise, not slack in the answer.
CENTROID_TOLERANCE_M = 0.1
RADIUS_TOLERANCE_M = 0.01

RFC_HEXAGON = [(43.311, -73.422), (43.111, -73.322), (43.111, -73.222), (43.311, -73.122), (43.411, -73.222),
               (43.411, -73.322)]  # fmt: skip
RFC_PRISM_BASE = [(42.556844, -73.248157), (42.656844, -73.248157), (42.656844, -73.348157), (42.556844, -73.348157)]


def assert_holds(lat: float | None, lon: float | None, radius_m: float | None, shape: Expected) -> None:
    """The centroid is the shape's, and the radius reaches every point of the shape and little more."""
    assert lat is not None and lon is not None and radius_m is not None, (lat, lon, radius_m)
    off_m = geodesic_inverse(lat, lon, shape.lat, shape.lon)[0]
    assert off_m < CENTROID_TOLERANCE_M, f"centroid {off_m:.3f} m from ({shape.lat}, {shape.lon})"
    farthest = shape.farthest_m(lat, lon)
    assert farthest - RADIUS_TOLERANCE_M <= radius_m <= farthest + 0.05, f"radius {radius_m} m, shape {farthest} m"


# Realistic shapes around Makassar for the unit and end-to-end tests.
TOWER = (-5.1477, 119.4327)  # a cell site; ArcBand from timing advance: 1,500-2,050 m, 266° + 120°
MALL = [(-5.13520, 119.41240), (-5.13520, 119.41430), (-5.13650, 119.41430), (-5.13650, 119.41330),
        (-5.13760, 119.41330), (-5.13760, 119.41240)]  # fmt: skip  # an L-shaped building
