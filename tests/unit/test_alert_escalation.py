"""When an unassigned urgent incident alerts, alerts again, and how an acknowledgement silences it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.alerts import AlertState, is_open, next_alert, parse_unassigned_alert_s

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
THRESHOLDS = {1: 60.0, 2: 120.0}


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_first_level_comes_after_the_priority_threshold() -> None:
    assert next_alert(AlertState(T0, 1), THRESHOLDS, 60) == (1, s(60))
    assert next_alert(AlertState(T0, 2), THRESHOLDS, 60) == (1, s(120))
    assert next_alert(AlertState(T0, 3), THRESHOLDS, 60) is None


def test_each_level_comes_an_interval_after_the_last_raised() -> None:
    assert next_alert(AlertState(T0, 1, level=1, alerted_at=s(63)), THRESHOLDS, 60) == (2, s(123))
    assert next_alert(AlertState(T0, 1, level=4, alerted_at=s(245)), THRESHOLDS, 30) == (5, s(275))


def test_an_acknowledgement_silences_two_intervals_from_when_it_was_made() -> None:
    acknowledged = AlertState(T0, 1, level=1, alerted_at=s(60), acknowledged_at=s(70))
    assert next_alert(acknowledged, THRESHOLDS, 60) == (2, s(190))
    assert not is_open(acknowledged)
    older = AlertState(T0, 1, level=2, alerted_at=s(190), acknowledged_at=s(70))  # before the last level
    assert next_alert(older, THRESHOLDS, 60) == (3, s(250))
    assert is_open(older)
    assert not is_open(AlertState(T0, 1))


def test_the_setting_adds_to_the_defaults_and_can_turn_one_off() -> None:
    assert parse_unassigned_alert_s("") == {1: 60.0, 2: 120.0}
    assert parse_unassigned_alert_s("1:45, 3:300") == {1: 45.0, 2: 120.0, 3: 300.0}
    assert parse_unassigned_alert_s("2:off") == {1: 60.0}


@pytest.mark.parametrize("text", ["1", "1:x", "5:60", "1:2", "1:7200", "x:60"])
def test_a_bad_setting_names_the_part(text: str) -> None:
    with pytest.raises(ValueError, match="unassigned alert"):
        parse_unassigned_alert_s(text)
