"""The simulated city's arithmetic: daily patterns, tracks along roads, and the caller's documents
that the centre's own parsers must read."""

import random
from datetime import UTC, datetime

import pytest

from simulator import city
from telephony.aml import parse_aml
from telephony.pidf_lo import parse_pidf_lo


def test_calls_follow_the_day_quiet_at_night_busiest_in_the_evening_rush() -> None:
    by_hour = [city.call_rate_factor(h) for h in range(24)]
    assert min(by_hour) == city.call_rate_factor(2) and max(by_hour) == city.call_rate_factor(17)
    assert 0.9 < sum(by_hour) / 24 < 1.1  # the mean hour is the configured rate
    assert city.call_rate_factor(7.5) == pytest.approx((city.call_rate_factor(7) + city.call_rate_factor(8)) / 2)


def test_cameras_see_jams_in_the_rush_and_free_roads_at_night() -> None:
    assert city.congestion_level(3.0, 0.0, 0.5) == "free"
    assert city.congestion_level(17.5, 0.5, 0.9) == "jam"
    assert city.congestion_level(17.5, -1.0, 0.0) in ("slow", "heavy")


def test_the_poisson_gap_shrinks_as_the_rate_grows() -> None:
    rng = random.Random(1)
    calm = sum(city.next_call_in_s(1, 12, rng) for _ in range(2000)) / 2000
    busy = sum(city.next_call_in_s(10, 12, rng) for _ in range(2000)) / 2000
    assert calm == pytest.approx(60 / city.call_rate_factor(12), rel=0.1)
    assert busy == pytest.approx(calm / 10, rel=0.15)


def test_a_track_gives_points_along_the_road_and_stops_at_its_end() -> None:
    track = city.Track.through([(0.0, 0.0), (0.0, 0.001), (0.001, 0.001)])
    leg = city.metres_between((0.0, 0.0), (0.0, 0.001))
    assert track.length_m == pytest.approx(2 * leg, rel=1e-3)
    lat, lon, bearing = track.at(leg / 2)
    assert (lat, lon) == pytest.approx((0.0, 0.0005)) and bearing == pytest.approx(90)
    lat, lon, bearing = track.at(leg * 1.5)
    assert (lat, lon) == pytest.approx((0.0005, 0.001)) and bearing == pytest.approx(0, abs=1e-6)
    assert track.at(-5)[:2] == (0.0, 0.0) and track.at(1e9)[:2] == pytest.approx((0.001, 0.001))
    assert city.Track.through([(1.0, 2.0)]).at(10) == (1.0, 2.0, 0.0)
    with pytest.raises(ValueError):
        city.Track.through([])


def test_crews_take_plausible_times() -> None:
    rng = random.Random(3)
    turnouts = [city.turnout_s(rng, 1) for _ in range(500)]
    assert min(turnouts) >= 15 and 40 < sorted(turnouts)[250] < 60
    assert 5 <= city.response_speed_mps(rng, 3) <= 17 and city.patrol_speed_mps(rng, 17.5) < 12


def test_the_callers_pidf_lo_and_aml_are_what_the_centre_reads() -> None:
    located = parse_pidf_lo(city.pidf_lo(-1.26512, 116.84033, 25, "+628123@caller.example"))
    assert (located.lat, located.lon, located.radius_m) == pytest.approx((-1.26512, 116.84033, 25))
    message = parse_aml(city.aml(-1.26512, 116.84033, 12, "20261202010203"))
    assert (message.lat, message.lon, message.radius_m) == pytest.approx((-1.26512, 116.84033, 12))
    assert message.fix_at == datetime(2026, 12, 2, 1, 2, 3, tzinfo=UTC)


def test_stories_and_callers_look_like_a_city_of_indonesia() -> None:
    rng = random.Random(5)
    stories = [city.story(rng, sms_share=0.2) for _ in range(1000)]
    assert {s.incident_type for s in stories} >= {"kebakaran", "medis", "kecelakaan"}
    assert 0.15 < sum(s.sms for s in stories) / 1000 < 0.25
    name, phone = city.caller(rng)
    assert phone.startswith("+628") and len(phone) == 14 and " " in name  # 08xx-xxxx-xxxx
