"""OsmAnd / Traccar Client parameters as Traccar's OsmAnd decoder reads them; messages without a position."""

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.osmand import read_osmand, what_it_said
from dispatch.positions import KNOT_MPS, TRACCAR_JSON, Fix, InvalidFix, NoFix, NoFixCause, read_message

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def read(**params: str | list[str]) -> Fix | NoFix:
    return read_osmand({key: value if isinstance(value, list) else [value] for key, value in params.items()}, now=NOW)


def refused(field: str, **params: str | list[str]) -> InvalidFix:
    with pytest.raises(InvalidFix) as caught:
        read(**params)
    assert caught.value.field == field, caught.value
    return caught.value


def test_location_is_lat_comma_lon() -> None:
    got = read(location="60.0,30.0", timestamp="1795489200")
    assert got == Fix(60.0, 30.0, datetime.fromtimestamp(1795489200, UTC))


def test_location_that_agrees_with_lat_and_lon_is_fine_one_that_disagrees_is_refused() -> None:
    assert isinstance(read(location="-1.25,116.9", lat="-1.25", lon="116.90"), Fix)
    assert "disagrees" in refused("location", location="-1.25,116.9", lat="-1.3").reason


@pytest.mark.parametrize("value", ["abc", "60", "60,", ",30", "60;30", "nan,30", "60,inf", "91,0", "-90.5,0", "0,181"])
def test_a_location_that_is_no_position_is_refused(value: str) -> None:
    refused("location", location=value)


def test_heading_is_the_bearing_and_bearing_wins_when_both_come() -> None:
    got = read(lat="-1.25", lon="116.9", heading="90")
    assert isinstance(got, Fix) and got.bearing_deg == 90.0
    got = read(lat="-1.25", lon="116.9", heading="90", bearing="45")
    assert isinstance(got, Fix) and got.bearing_deg == 45.0


@pytest.mark.parametrize("value", ["NaN", "inf", "abc", "-1", "361", "720"])
def test_a_heading_that_cannot_be_is_refused_even_beside_a_bearing(value: str) -> None:
    refused("heading", lat="-1.25", lon="116.9", heading=value)
    refused("heading", lat="-1.25", lon="116.9", heading=value, bearing="45")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"hdop": "-1"}, "hdop"),
        ({"hdop": "NaN"}, "hdop"),
        ({"hdop": "x"}, "hdop"),
        ({"cell": "257,02,16"}, "cell"),
        ({"cell": "257,02,16,abc"}, "cell"),
        ({"cell": ["257,02,16,2224", "garbage"]}, "cell"),
        ({"wifi": "00-14-22-01-23-45"}, "wifi"),
        ({"wifi": "00-14-22-01-23-45,strong"}, "wifi"),
        ({"wifi": ",-80"}, "wifi"),
        ({"timestamp": "2016-01-27T18:55:47[Mars/Olympus]"}, "timestamp"),
        ({"timestamp": "2016-01-27T18:55:47[../../etc/passwd]"}, "timestamp"),
    ],
)
def test_garbage_in_the_other_parameters_names_the_parameter(params: dict[str, str], field: str) -> None:
    refused(field, lat="-1.25", lon="116.9", **params)
    refused(field, **params)  # also without a position


def test_every_timestamp_form_of_traccars_decoder() -> None:
    at = NOW - timedelta(seconds=30)
    forms = [
        str(int(at.timestamp())),
        str(int(at.timestamp() * 1000)),
        "2026-11-24T02:59:30Z",
        "2026-11-24T10:59:30+08:00",
        "2026-11-24T10:59:30.000+0800",
        "2026-11-24T03:59:30+01:00[Europe/Paris]",
        "2026-11-24T10:59:30[Asia/Makassar]",
        "2026-11-24 02:59:30",
        "2026-11-24 02:59:30.000",
    ]
    for form in forms:
        got = read(lat="-1.25", lon="116.9", timestamp=form)
        assert got.fix_at == at if isinstance(got, Fix) else False, form


def test_nothing_but_a_time_cell_towers_or_wifi_is_a_report_without_a_position() -> None:
    got = read(
        timestamp=str(int(NOW.timestamp())),
        cell=["257,02,16,2224", "257,02,16,2223,-90"],
        wifi=["00-14-22-01-23-45,-80", "00-1C-B3-09-85-15,-70"],
        batt="41",
        charge="true",
    )
    assert got == NoFix(NOW, NoFixCause.ABSENT, battery_pct=41.0, charging=True)
    assert read() == NoFix(NOW, NoFixCause.ABSENT)  # nothing at all: heard now


def test_zero_zero_and_a_fix_marked_invalid_are_reports_that_move_nobody() -> None:
    assert read(lat="0", lon="0.0", batt="12") == NoFix(NOW, NoFixCause.ZERO, battery_pct=12.0)
    assert read(location="0,0") == NoFix(NOW, NoFixCause.ZERO)
    for valid in ("false", "0", "no"):
        assert read(lat="-1.25", lon="116.9", valid=valid) == NoFix(NOW, NoFixCause.INVALID)
    assert isinstance(read(lat="-1.25", lon="116.9", valid="TRUE"), Fix)
    assert isinstance(read(lat="-1.25", lon="116.9", valid="1"), Fix)


def test_half_a_position_is_refused_not_taken_for_a_report() -> None:
    assert refused("lon", lat="-1.25").reason == "is required"
    assert refused("lat", lon="116.9", heading="10").reason == "is required"


def test_a_report_is_checked_like_a_fix() -> None:
    refused("batt", batt="150")
    refused("timestamp", timestamp=str(int((NOW - timedelta(days=3)).timestamp())))
    refused("speed", speed="-1")


def test_charge_driver_and_keys_of_their_own_are_no_error() -> None:
    got = read(
        lat="40.72",
        lon="-74.0",
        speed="40",
        charge="yes",
        driverUniqueId="driver 7",
        ignition="true",
        rpm="933",
        fuel="24",
        vacc="0",
        hacc="0",
    )
    assert isinstance(got, Fix) and got.speed_mps == pytest.approx(40 * KNOT_MPS)


def test_empty_values_are_skipped_and_the_last_of_a_repeated_key_counts() -> None:
    got = read(lat=["-1.2", "-1.25", ""], lon="116.9", bearing="")
    assert isinstance(got, Fix) and (got.lat, got.bearing_deg) == (-1.25, None)


def test_what_it_said_keeps_every_value_but_the_device_token() -> None:
    params = {"id": ["dev_secret"], "cell": ["1,2,3,4", "1,2,3,5"], "batt": ["41"]}
    assert what_it_said(params) == {"cell": ["1,2,3,4", "1,2,3,5"], "batt": "41"}
    assert what_it_said({"deviceid": ["dev_secret"]}) == {}


def test_traccar_client_9_without_coords_is_a_report_with_its_battery() -> None:
    values = {
        "location.timestamp": NOW.isoformat(),
        "location.battery.level": 0.35,
        "location.battery.is_charging": False,
    }
    assert read_message(values, now=NOW, spelling=TRACCAR_JSON) == NoFix(NOW, NoFixCause.ABSENT, 35.0, False)
    with pytest.raises(InvalidFix) as caught:
        read_message({"location.battery.is_charging": 1}, now=NOW, spelling=TRACCAR_JSON)
    assert caught.value.field == "location.battery.is_charging"
