"""Reading and checking GPS fixes, out-of-order arrivals."""

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.positions import (
    BATCH,
    KNOT_MPS,
    OSMAND,
    TRACCAR_JSON,
    Arrival,
    Fix,
    InvalidFix,
    PositionLimits,
    newest,
    read_fix,
    read_number,
    read_timestamp,
    sort_arrivals,
)

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
GOOD = {"lat": -1.2705, "lon": 116.836, "at": "2026-11-24T02:59:50Z"}


def fix(**over: object) -> Fix:
    return read_fix({**GOOD, **over}, now=NOW)


def refused(field: str, spelling=BATCH, **values: object) -> InvalidFix:
    with pytest.raises(InvalidFix) as caught:
        read_fix(values, now=NOW, spelling=spelling)
    assert caught.value.field == field, caught.value
    return caught.value


def test_a_good_batch_fix_keeps_every_value() -> None:
    got = fix(accuracy_m=8, speed_mps=12.5, bearing_deg=270, battery_pct=81, altitude_m=12)
    assert got == Fix(-1.2705, 116.836, NOW - timedelta(seconds=10), 8.0, 12.5, 270.0, 81.0, 12.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [("lat", 90.0001), ("lat", -91), ("lon", 180.5), ("lon", -181), ("lat", "north"), ("lon", True), ("lat", [1])],
)
def test_coordinates_out_of_range_or_not_numbers_are_refused(key: str, value: object) -> None:
    refused(key, **{**GOOD, key: value})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "nan", "inf", "-Infinity"])
@pytest.mark.parametrize("key", ["lat", "lon", "accuracy_m", "speed_mps", "bearing_deg", "battery_pct"])
def test_nan_and_infinity_are_refused_in_every_number(key: str, value: object) -> None:
    error = refused(key, **{**GOOD, key: value})
    assert "finite" in error.reason


@pytest.mark.parametrize("key", ["lat", "lon", "at"])
def test_lat_lon_and_time_are_required_in_a_batch(key: str) -> None:
    values = dict(GOOD)
    del values[key]
    assert refused(key, **values).reason == "is required"


def test_the_edges_of_the_world_are_fine() -> None:
    assert fix(lat=90, lon=-180).lat == 90.0
    assert fix(lat="-90", lon="180").lon == 180.0


def test_a_fix_beyond_the_allowed_clock_skew_is_refused() -> None:
    assert fix(at=(NOW + timedelta(seconds=59)).isoformat()).fix_at == NOW + timedelta(seconds=59)
    error = refused("at", **{**GOOD, "at": (NOW + timedelta(seconds=61)).isoformat()})
    assert "future" in error.reason
    lenient = PositionLimits(max_future_s=300)
    assert read_fix({**GOOD, "at": (NOW + timedelta(seconds=200)).isoformat()}, now=NOW, limits=lenient)


def test_a_fix_older_than_the_kept_age_is_refused() -> None:
    assert fix(at=(NOW - timedelta(hours=23)).isoformat())
    error = refused("at", **{**GOOD, "at": (NOW - timedelta(hours=25)).isoformat()})
    assert "old" in error.reason
    short = PositionLimits(max_age_s=600)
    with pytest.raises(InvalidFix):
        read_fix({**GOOD, "at": (NOW - timedelta(seconds=601)).isoformat()}, now=NOW, limits=short)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("speed_mps", -0.1),
        ("speed_mps", 100.1),
        ("accuracy_m", -1),
        ("accuracy_m", 10_001),
        ("bearing_deg", -1),
        ("bearing_deg", 360.5),
        ("battery_pct", -1),
        ("battery_pct", 101),
        ("altitude_m", 9_001),
        ("altitude_m", -501),
    ],
)
def test_implausible_speed_accuracy_bearing_battery_and_altitude_are_refused(key: str, value: float) -> None:
    refused(key, **{**GOOD, key: value})


def test_optional_values_may_be_absent_or_empty() -> None:
    got = fix(accuracy_m=None, speed_mps="", bearing_deg=360)
    assert got.accuracy_m is None and got.speed_mps is None and got.bearing_deg == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1795489190, datetime(2026, 11, 24, 2, 59, 50, tzinfo=UTC)),
        ("1795489190", datetime(2026, 11, 24, 2, 59, 50, tzinfo=UTC)),
        (1795489190123, datetime(2026, 11, 24, 2, 59, 50, 123000, tzinfo=UTC)),
        ("1795489190123", datetime(2026, 11, 24, 2, 59, 50, 123000, tzinfo=UTC)),
        ("1795489190.5", datetime(2026, 11, 24, 2, 59, 50, 500000, tzinfo=UTC)),
        ("2026-11-24T02:59:50Z", datetime(2026, 11, 24, 2, 59, 50, tzinfo=UTC)),
        ("2026-11-24T10:59:50+08:00", datetime(2026, 11, 24, 2, 59, 50, tzinfo=UTC)),
        ("2026-11-24T10:59:50 08:00", datetime(2026, 11, 24, 2, 59, 50, tzinfo=UTC)),  # '+' lost in a query
        ("2026-11-24 02:59:50", datetime(2026, 11, 24, 2, 59, 50, tzinfo=UTC)),
        ("2026-11-24T02:59:50.250Z", datetime(2026, 11, 24, 2, 59, 50, 250000, tzinfo=UTC)),
    ],
)
def test_timestamps_in_seconds_milliseconds_and_iso(value: object, expected: datetime) -> None:
    assert read_timestamp(value, "timestamp") == expected


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01T00:00:00Z", -5, True, "nan", 1e300, [], {}])
def test_garbage_timestamps_name_the_field(value: object) -> None:
    with pytest.raises(InvalidFix) as caught:
        read_timestamp(value, "timestamp")
    assert caught.value.field == "timestamp"


def test_read_number_accepts_numbers_and_decimal_strings_only() -> None:
    assert read_number(" 12.5 ", "x") == 12.5
    assert read_number(3, "x") == 3.0
    assert read_number(None, "x") is None
    for bad in ("12,5", "1e", {"a": 1}, False):
        with pytest.raises(InvalidFix):
            read_number(bad, "x")


def test_osmand_speaks_knots_and_its_own_names_and_time_may_be_absent() -> None:
    values = {"id": "dev_x", "lat": "-1.27", "lon": "116.83", "speed": "10", "bearing": "90", "batt": "55"}
    got = read_fix({**values, "accuracy": "6", "altitude": "20"}, now=NOW, spelling=OSMAND)
    assert got.speed_mps == pytest.approx(10 * KNOT_MPS)
    assert (got.bearing_deg, got.battery_pct, got.accuracy_m, got.altitude_m) == (90.0, 55.0, 6.0, 20.0)
    assert got.fix_at == NOW
    assert read_fix({**values, "timestamp": "1795489190"}, now=NOW, spelling=OSMAND)
    refused("speed", OSMAND, **{**values, "speed": "500"})  # 257 m/s
    refused("batt", OSMAND, **{**values, "batt": "180"})
    refused("lat", OSMAND, **{**values, "lat": "abc"})


def test_traccar_client_9_battery_is_a_fraction_and_minus_one_is_unknown() -> None:
    s = TRACCAR_JSON
    values = {s.lat: -1.27, s.lon: 116.83, s.at: "2026-11-24T02:59:59.000Z", s.speed_mps: -1, s.bearing_deg: -1}
    got = read_fix({**values, s.battery_pct: 0.42, s.accuracy_m: 5}, now=NOW, spelling=s)
    assert got.battery_pct == pytest.approx(42.0)
    assert got.speed_mps is None and got.bearing_deg is None and got.accuracy_m == 5.0
    assert read_fix({**values, s.battery_pct: -1}, now=NOW, spelling=s).battery_pct is None
    refused("location.battery.level", s, **{**values, s.battery_pct: 1.5})
    refused("location.coords.latitude", s, **{**values, s.lat: "x"})


def test_arrivals_sort_repeats_history_and_new_fixes() -> None:
    t = [NOW + timedelta(seconds=s) for s in range(6)]
    assert sort_arrivals([t[1], t[2], t[2], t[0], t[5], t[3]], latest_at=t[1]) == [
        Arrival.OUT_OF_ORDER,  # equal to the newest known: the centre had it (or one at that instant)
        Arrival.NEW,
        Arrival.REPEATED,
        Arrival.OUT_OF_ORDER,
        Arrival.NEW,
        Arrival.OUT_OF_ORDER,  # older than the t5 just before it in the same request
    ]
    assert sort_arrivals([t[0], t[1]], latest_at=None) == [Arrival.NEW, Arrival.NEW]
    assert sort_arrivals([], latest_at=None) == []


def test_newest_is_the_latest_fix_time_not_the_last_received() -> None:
    early, late = fix(at="2026-11-24T02:59:00Z"), fix(at="2026-11-24T02:59:30Z")
    assert newest([late, early]) is late
    assert newest([]) is None
