"""AML (ETSI TS 103 625) by SMS and as form fields: published example, Makassar, no fix, hostile bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from telephony.aml import MAX_AML_CHARS, AmlMessage, MalformedAml, NotAnAmlMessage, is_aml, parse_aml, parse_aml_fields

PUBLISHED = (
    'A"ML=1;lt=+55.74317;lg=-004.26881;rd=50;top=20130717141935;lc=90;pm=W;'
    "si=234302543446355;ei=356708041746734;mcc=234;mnc=30;ml=124"
)
MAKASSAR = (
    'A"ML=1;lt=-5.14767;lg=+119.43278;rd=12;top=20240305021500;lc=68;pm=G;'
    "si=510101234567890;ei=353456789012345;mcc=510;mnc=10;ml=125"
)


def test_published_example_parses_although_ml_does_not_match_its_length() -> None:
    assert len(PUBLISHED) != 124
    assert parse_aml(PUBLISHED) == AmlMessage(
        version=1,
        lat=55.74317,
        lon=-4.26881,
        radius_m=50.0,
        fix_at=datetime(2013, 7, 17, 14, 19, 35, tzinfo=UTC),
        confidence_pct=90,
        method="wifi",
        imsi="234302543446355",
        imei="356708041746734",
        mcc="234",
        mnc="30",
        declared_length=124,
        extra={},
    )


def test_makassar_gnss_fix() -> None:
    message = parse_aml(MAKASSAR)
    assert (message.lat, message.lon, message.radius_m) == (-5.14767, 119.43278, 12.0)
    assert message.method == "gnss" and message.mcc == "510" and message.mnc == "10"
    assert message.fix_at == datetime(2024, 3, 5, 2, 15, tzinfo=UTC)
    assert message.fix_at is not None and message.fix_at.tzinfo is UTC


def test_no_fix_keeps_the_message_without_a_location() -> None:
    message = parse_aml('A"ML=1;lt=+00.00000;lg=+000.00000;rd=0;top=20240305021500;lc=0;pm=N;si=510101234567890;ml=90')
    assert (message.lat, message.lon, message.method) == (None, None, "none")
    assert message.imsi == "510101234567890"
    assert parse_aml('A"ML=1;pm=N').lat is None


@pytest.mark.parametrize(("code", "method"), [("G", "gnss"), ("W", "wifi"), ("C", "cell"), ("c", "cell")])
def test_positioning_methods(code: str, method: str) -> None:
    assert parse_aml(f'A"ML=1;lt=-5.1;lg=119.4;rd=500;pm={code}').method == method


def test_version_2_unknown_keys_whitespace_and_trailing_separator() -> None:
    message = parse_aml(' A"ML=2; lt=-5.14767 ;lg=119.43278;rd=8;pm=G;lf=3;dn=0811-2345;;\r\n')
    assert message.version == 2 and message.lat == -5.14767
    assert message.extra == {"lf": "3", "dn": "0811-2345"}


def test_empty_optional_fields_read_as_absent_and_bad_ml_is_ignored() -> None:
    message = parse_aml('A"ML=1;lt=-5.1;lg=119.4;rd=;top=;lc=;pm=C;si=;ei=;mcc=;mnc=;ml=banyak')
    assert (message.radius_m, message.fix_at, message.confidence_pct, message.imsi, message.imei) == (None,) * 5
    assert message.declared_length is None


def test_form_fields_give_the_same_message_as_the_sms() -> None:
    fields = {
        "lt": "-5.14767",
        "lg": "+119.43278",
        "rd": "12",
        "top": "20240305021500",
        "lc": "68",
        "pm": "G",
        "si": "510101234567890",
        "ei": "353456789012345",
        "mcc": "510",
        "mnc": "10",
        "ml": "125",
    }
    assert parse_aml_fields(fields) == parse_aml(MAKASSAR)
    assert parse_aml_fields({**fields, "v": "2"}).version == 2
    assert parse_aml_fields({**fields, "PM": "g", 'A"ML': "1"}).method == "gnss"


@pytest.mark.parametrize(
    "body",
    [
        PUBLISHED,
        MAKASSAR,
        'A"ML=1;pm=N',
        'A"ML=2;lt=-5.1',
        "  A\u201dML=1;lt=-5.1;lg=119.4;pm=G",
        'A"ML=3;future=yes',
    ],
)
def test_is_aml(body: str) -> None:
    assert is_aml(body)


@pytest.mark.parametrize(
    "body",
    [
        "Tolong ada kebakaran di Jl. Veteran",
        "",
        "AML=1;lt=-5.1;lg=119.4",
        'Saya di A"ML=1;lt=-5.1',
        'A"ML=;lt=-5.1',
        'a"ml=1;lt=-5.1',
        "\x00" * 100,
    ],
)
def test_plain_text_is_not_aml(body: str) -> None:
    assert not is_aml(body)
    with pytest.raises(NotAnAmlMessage):
        parse_aml(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('A"ML=1;lt=NaN;lg=119.4;pm=G', "lt"),
        ('A"ML=1;lt=-5.1;lg=inf;pm=G', "lg"),
        ('A"ML=1;lt=1e2;lg=119.4;pm=G', "lt"),
        ('A"ML=1;lt=90.5;lg=119.4;pm=G', "lt"),
        ('A"ML=1;lt=-5.1;lg=-180.01;pm=G', "lg"),
        ('A"ML=1;lt=-5,1;lg=119.4;pm=G', "lt"),
        ('A"ML=1;lg=119.4;pm=G', "lt"),
        ('A"ML=1;lt=-5.1;lg=;pm=W', "lg"),
        ('A"ML=1;lt=-5.1;lg=119.4;rd=-5;pm=G', "rd"),
        ('A"ML=1;lt=-5.1;lg=119.4;rd=NaN;pm=G', "rd"),
        ('A"ML=1;lt=-5.1;lg=119.4;lc=101;pm=G', "lc"),
        ('A"ML=1;lt=-5.1;lg=119.4;lc=-1;pm=G', "lc"),
        ('A"ML=1;lt=-5.1;lg=119.4;lc=66.6;pm=G', "lc"),
        ('A"ML=1;lt=-5.1;lg=119.4;top=20130230141935;pm=G', "top"),
        ('A"ML=1;lt=-5.1;lg=119.4;top=2013-07-17T14:19;pm=G', "top"),
        ('A"ML=1;lt=-5.1;lg=119.4;top=201307171419;pm=G', "top"),
        ('A"ML=1;lt=-5.1;lg=119.4;top=20130717251935;pm=G', "top"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=X', "pm"),
        ('A"ML=1;lt=-5.1;lg=119.4', "pm"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=G;lt=-6.2', "lt"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=G;garbage', "garbage"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=G;=x', "key=value"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=G;si=5101012345678901234', "si"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=G;ei=35345678901234x', "ei"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=G;mcc=51', "mcc"),
        ('A"ML=1;lt=-5.1;lg=119.4;pm=G;mnc=\u0661\u0660', "mnc"),
        ('A"ML=9;lt=-5.1;lg=119.4;pm=G', "version"),
        ('A"ML=0;pm=N', "version"),
    ],
)
def test_malformed_fields_are_refused_by_name(body: str, field: str) -> None:
    with pytest.raises(MalformedAml, match=field):
        parse_aml(body)


def test_malformed_form_fields_are_refused_by_name() -> None:
    with pytest.raises(MalformedAml, match="version"):
        parse_aml_fields({"v": "x", "pm": "N"})
    with pytest.raises(MalformedAml, match="lt"):
        parse_aml_fields({"lt": "-95", "lg": "119.4", "pm": "G"})


def test_oversized_body_is_refused_before_parsing() -> None:
    body = MAKASSAR + ";x=" + "9" * MAX_AML_CHARS
    with pytest.raises(MalformedAml, match="body"):
        parse_aml(body)
    many_keys = 'A"ML=1;pm=N;' + ";".join(f"k{i}=v" for i in range(1500))
    assert len(many_keys) < MAX_AML_CHARS
    assert len(parse_aml(many_keys).extra) == 1500


def test_errors_are_value_errors_for_adapters() -> None:
    assert issubclass(MalformedAml, ValueError) and issubclass(NotAnAmlMessage, ValueError)
