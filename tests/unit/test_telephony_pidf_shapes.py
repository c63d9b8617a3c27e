"""Every RFC 5491 shape becomes a centroid and a radius that holds the whole shape, checked
against geometry worked out independently (Vincenty geodesics, shapely centroids: `pidf_shapes`)."""

from __future__ import annotations

import math

import pytest
from pidf_shapes import (
    CRS_3D,
    DEGREES,
    MALL,
    METRES,
    RADIANS,
    RFC_HEXAGON,
    RFC_PRISM_BASE,
    TOWER,
    arc_band,
    assert_holds,
    document,
    ellipsoid,
    expected_arc_band,
    expected_circle,
    expected_ellipse,
    expected_polygon,
    geodesic_inverse,
    polygon_3d,
    prism,
    sphere,
)

from telephony.pidf_lo import MalformedLocation, parse_pidf_lo

CASES = {
    "arcband-rfc5491": (arc_band(-43.5723, 153.2176, 3594, 4148, 20, 20), "arcband",
                        expected_arc_band(-43.5723, 153.2176, 3594, 4148, 20, 20)),
    "arcband-makassar-timing-advance": (arc_band(*TOWER, 1500, 2050, 266, 120), "arcband",
                                        expected_arc_band(*TOWER, 1500, 2050, 266, 120)),
    "arcband-in-radians": (arc_band(*TOWER, 1500, 2050, math.radians(266), math.radians(120), RADIANS), "arcband",
                           expected_arc_band(*TOWER, 1500, 2050, 266, 120)),
    "arcband-across-north": (arc_band(*TOWER, 300, 1200, 330, 60), "arcband",
                             expected_arc_band(*TOWER, 300, 1200, 330, 60)),
    "arcband-pie-slice-from-the-mast": (arc_band(*TOWER, 0, 2050, 100, 120), "arcband",
                                        expected_arc_band(*TOWER, 0, 2050, 100, 120)),
    "arcband-wider-than-a-half-turn": (arc_band(*TOWER, 500, 9000, 10, 300), "arcband",
                                       expected_arc_band(*TOWER, 500, 9000, 10, 300)),
    "arcband-whole-ring": (arc_band(*TOWER, 500, 2000, 0, 360), "arcband",
                           expected_arc_band(*TOWER, 500, 2000, 0, 360)),
    "polygon-3d-srsdimension": (polygon_3d(RFC_HEXAGON, 2.3, "3"), "polygon", expected_polygon(RFC_HEXAGON)),
    "polygon-3d-epsg4979-triples": (polygon_3d(RFC_HEXAGON, 2.3, None), "polygon", expected_polygon(RFC_HEXAGON)),
    "polygon-3d-concave-building": (polygon_3d(MALL, 12.0, None), "polygon", expected_polygon(MALL)),
    "prism-rfc5491": (prism(RFC_PRISM_BASE, 36.6, 2.4), "prism", expected_polygon(RFC_PRISM_BASE)),
    "prism-concave-building": (prism(MALL, 12.0, 20.0), "prism", expected_polygon(MALL)),
    "sphere-rfc5491": (sphere(42.5463, -73.2512, 26.3, 850.24), "sphere", expected_circle(42.5463, -73.2512, 850.24)),
    "ellipsoid-rfc5491": (ellipsoid(42.5463, -73.2512, 26.3, 7.7156, 3.31, 28.7, 90), "ellipsoid",
                          expected_ellipse(42.5463, -73.2512, 7.7156, 3.31, 90)),
    "ellipsoid-makassar": (ellipsoid(-5.1401, 119.4202, 30, 120, 40, 15, 35), "ellipsoid",
                           expected_ellipse(-5.1401, 119.4202, 120, 40, 35)),
}  # fmt: skip


@pytest.mark.parametrize("name", CASES)
def test_each_shape_becomes_its_centroid_and_a_radius_holding_all_of_it(name: str) -> None:
    text, shape_name, expected = CASES[name]
    location = parse_pidf_lo(text)
    assert location.shape == shape_name
    assert_holds(location.lat, location.lon, location.radius_m, expected)
    assert location.method == "Cell"


def test_arcband_centroid_is_in_the_band_not_at_the_tower_and_its_radius_is_not_the_outer_radius() -> None:
    location = parse_pidf_lo(arc_band(*TOWER, 1500, 2050, 266, 120))
    assert location.lat is not None and location.lon is not None and location.radius_m is not None
    distance, azimuth = geodesic_inverse(*TOWER, location.lat, location.lon)
    assert 1500 * 0.8 < distance < 2050  # pulled in from the band by the 120° opening
    assert azimuth == pytest.approx(326, abs=0.01)  # on the bisector: 266° + 60°
    assert location.radius_m < 2050


def test_2d_shapes_agree_with_the_same_independent_geometry() -> None:
    circle = document(
        f'<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{TOWER[0]} {TOWER[1]}</gml:pos>'
        f'<gs:radius uom="{METRES}">850</gs:radius></gs:Circle>'
    )
    ellipse = document(
        f'<gs:Ellipse srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{TOWER[0]} {TOWER[1]}</gml:pos>'
        f'<gs:semiMajorAxis uom="{METRES}">300</gs:semiMajorAxis><gs:semiMinorAxis uom="{METRES}">90</gs:semiMinorAxis>'
        f'<gs:orientation uom="{DEGREES}">43.2</gs:orientation></gs:Ellipse>'
    )
    location = parse_pidf_lo(circle)
    assert location.shape == "circle"
    assert_holds(location.lat, location.lon, location.radius_m, expected_circle(*TOWER, 850))
    location = parse_pidf_lo(ellipse)
    assert location.shape == "ellipse"
    assert_holds(location.lat, location.lon, location.radius_m, expected_ellipse(*TOWER, 300, 90, 43.2))


def test_an_ellipse_with_its_axes_swapped_is_still_held_whole() -> None:
    text = ellipsoid(-5.14, 119.42, 0, 40, 120, 10, 35)
    assert parse_pidf_lo(text).radius_m == 120


def test_epsg4979_with_srsdimension_2_reads_pairs() -> None:
    ring = " ".join(f"{lat} {lon}" for lat, lon in [*MALL, MALL[0]])
    text = document(
        f'<gml:Polygon srsName="{CRS_3D}"><gml:exterior><gml:LinearRing>'
        f'<gml:posList srsDimension="2">{ring}</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>'
    )
    location = parse_pidf_lo(text)
    assert_holds(location.lat, location.lon, location.radius_m, expected_polygon(MALL))


def test_a_prism_base_may_carry_its_own_srsname_and_gml_pos_triples() -> None:
    ring = "".join(f"<gml:pos>{lat} {lon} 12</gml:pos>" for lat, lon in [*MALL, MALL[0]])
    text = document(
        f'<gs:Prism srsName="{CRS_3D}"><gs:base><gml:Polygon srsName="{CRS_3D}"><gml:exterior><gml:LinearRing>'
        f"{ring}</gml:LinearRing></gml:exterior></gml:Polygon></gs:base>"
        f'<gs:height uom="{METRES}">20</gs:height></gs:Prism>'
    )
    location = parse_pidf_lo(text)
    assert location.shape == "prism"
    assert_holds(location.lat, location.lon, location.radius_m, expected_polygon(MALL))


def _arc(inner: str = "1500", outer: str = "2050", start: str = "266", opening: str = "120", uom: str = DEGREES) -> str:
    return document(
        f'<gs:ArcBand srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>{TOWER[0]} {TOWER[1]}</gml:pos>'
        f'<gs:innerRadius uom="{METRES}">{inner}</gs:innerRadius>'
        f'<gs:outerRadius uom="{METRES}">{outer}</gs:outerRadius>'
        f'<gs:startAngle uom="{uom}">{start}</gs:startAngle><gs:openingAngle uom="{uom}">{opening}</gs:openingAngle>'
        "</gs:ArcBand>"
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (_arc(inner="2100"), "ArcBand/innerRadius"),
        (_arc(inner="-5"), "ArcBand/innerRadius"),
        (_arc(outer="NaN"), "ArcBand/outerRadius"),
        (_arc(opening="361"), "ArcBand/openingAngle"),
        (_arc(opening="-10"), "ArcBand/openingAngle"),
        (_arc(start="north"), "ArcBand/startAngle"),
        (_arc(uom="urn:ogc:def:uom:EPSG::9105"), "ArcBand/startAngle: unit"),
        (_arc().replace("<gml:pos>-5.1477 119.4327</gml:pos>", ""), "ArcBand: no <gml:pos>"),
        (_arc().replace("openingAngle", "closingAngle"), "ArcBand: no <openingAngle>"),
        (_arc().replace("EPSG::4326", "EPSG::3857"), "ArcBand srsName"),
        (document(f'<gs:Prism srsName="{CRS_3D}"><gs:height>3</gs:height></gs:Prism>'), "Prism: no <gs:base>"),
        (prism(MALL, 12, 20).replace("</gml:posList>", " 5</gml:posList>"), "Prism/base/Polygon/posList"),
        (polygon_3d(MALL, 12, None).replace("</gml:posList>", " 5</gml:posList>"), "Polygon/posList"),
        (polygon_3d(MALL, 12, "4"), "srsDimension '4'"),
        (prism(MALL, 12, 20).replace("-5.1352", "-95.1352", 1), "Prism/base/Polygon: latitude"),
        (sphere(-5.14, 119.42, 26, -1), "Sphere/radius"),
        (ellipsoid(-5.14, 119.42, 26, 120, "x", 15, 35), "Ellipsoid/semiMinorAxis"),
    ],
)
def test_broken_shapes_are_refused_naming_the_element(text: str, field: str) -> None:
    with pytest.raises(MalformedLocation, match=field):
        parse_pidf_lo(text)


def test_a_full_turn_in_radians_rounded_up_is_still_a_whole_ring() -> None:
    location = parse_pidf_lo(_arc(inner="500", outer="2000", start="0", opening="6.28319", uom=RADIANS))
    assert location.radius_m == pytest.approx(2000, abs=0.01)
    assert location.lat is not None and location.lon is not None
    assert geodesic_inverse(*TOWER, location.lat, location.lon)[0] < 0.1
