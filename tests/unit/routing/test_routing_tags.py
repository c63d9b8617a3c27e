import math

import pytest

from routing.tags import (
    is_motor_accessible,
    oneway_direction,
    parse_length_m,
    parse_maxspeed,
    parse_weight_t,
)


@pytest.mark.parametrize(
    ("value", "kmh"),
    [
        ("50", 50.0),
        ("50 km/h", 50.0),
        ("50kmh", 50.0),
        ("30 mph", 30 * 1.609344),
        ("40;60", 40.0),
        ("12,5", 12.5),
    ],
)
def test_maxspeed_numbers(value: str, kmh: float) -> None:
    assert parse_maxspeed(value) == pytest.approx(kmh)


@pytest.mark.parametrize("value", [None, "", "none", "signals", "walk", "RU:urban", "fast", "0"])
def test_maxspeed_without_a_number_falls_back(value: str | None) -> None:
    assert math.isnan(parse_maxspeed(value))


@pytest.mark.parametrize(
    ("value", "metres"),
    [("3", 3.0), ("2.5", 2.5), ("4 metres", 4.0), ("2.2 m", 2.2), ("7'6\"", 2.286), ("250 cm", 2.5), ("1,8", 1.8)],
)
def test_lengths(value: str, metres: float) -> None:
    assert parse_length_m(value) == pytest.approx(metres, abs=1e-3)


@pytest.mark.parametrize("value", [None, "default", "narrow", "below_default"])
def test_lengths_unknown(value: str | None) -> None:
    assert math.isnan(parse_length_m(value))


@pytest.mark.parametrize(("value", "tonnes"), [("4", 4.0), ("3.5 t", 3.5), ("7500 kg", 7.5), ("5 st", 4.5359)])
def test_weights(value: str, tonnes: float) -> None:
    assert parse_weight_t(value) == pytest.approx(tonnes, abs=1e-3)


@pytest.mark.parametrize(
    ("tags", "direction"),
    [
        ({"highway": "residential"}, 0),
        ({"highway": "residential", "oneway": "yes"}, 1),
        ({"highway": "residential", "oneway": "-1"}, -1),
        ({"highway": "residential", "junction": "roundabout"}, 1),
        ({"highway": "residential", "junction": "roundabout", "oneway": "no"}, 0),
        ({"highway": "motorway"}, 1),
        ({"highway": "primary", "oneway": "reversible"}, None),
    ],
)
def test_oneway(tags: dict[str, str], direction: int | None) -> None:
    assert oneway_direction(tags) == direction


@pytest.mark.parametrize(
    ("tags", "allowed"),
    [
        ({}, True),
        ({"access": "no"}, False),
        ({"access": "private"}, False),
        ({"motor_vehicle": "no"}, False),
        ({"motorcar": "no"}, False),
        ({"access": "no", "motor_vehicle": "yes"}, True),
        ({"access": "destination"}, True),
        ({"motor_vehicle": "private", "motorcar": "yes"}, True),
    ],
)
def test_motor_access(tags: dict[str, str], allowed: bool) -> None:
    assert is_motor_accessible(tags) is allowed


def test_emergency_override_is_opt_in() -> None:
    tags = {"access": "no", "emergency": "yes"}
    assert not is_motor_accessible(tags)
    assert is_motor_accessible(tags, emergency_override=True)
