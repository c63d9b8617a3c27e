"""Arrival decided from a unit's recent fixes: radius, dwell, the first fix of the run."""

from datetime import UTC, datetime, timedelta

import pytest

from dispatch.geofence import Fence, TrackPoint, arrived_at
from routing.geo import great_circle_m as distance_m

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
SCENE = Fence(-1.2650, 116.8400, radius_m=80, dwell_s=20)
#: ~0.00045° of latitude ≈ 50 m; 0.0018° ≈ 200 m
INSIDE, OUTSIDE = (-1.26545, 116.8400), (-1.2668, 116.8400)


def track(*points: tuple[float, tuple[float, float]], accuracy_m: float | None = None) -> list[TrackPoint]:
    return [TrackPoint(T0 + timedelta(seconds=s), lat, lon, accuracy_m) for s, (lat, lon) in points]


def test_distance_is_metres_on_the_ground() -> None:
    assert distance_m(*INSIDE, SCENE.lat, SCENE.lon) == pytest.approx(50, abs=1)
    assert distance_m(*OUTSIDE, SCENE.lat, SCENE.lon) == pytest.approx(200, abs=1)
    assert distance_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-3)


def test_arrival_is_the_first_fix_inside_once_the_dwell_is_done() -> None:
    fixes = track((0, OUTSIDE), (10, OUTSIDE), (15, INSIDE), (25, INSIDE), (35, INSIDE))
    assert arrived_at(fixes, SCENE) == T0 + timedelta(seconds=15)


def test_not_yet_while_the_dwell_is_short() -> None:
    assert arrived_at(track((0, OUTSIDE), (15, INSIDE), (34, INSIDE)), SCENE) is None


def test_not_while_outside_or_without_fixes() -> None:
    assert arrived_at(track((0, INSIDE), (30, INSIDE), (40, OUTSIDE)), SCENE) is None
    assert arrived_at([], SCENE) is None


def test_driving_through_does_not_count_only_the_last_unbroken_run() -> None:
    fixes = track((0, INSIDE), (30, INSIDE), (40, OUTSIDE), (50, INSIDE), (65, INSIDE), (75, INSIDE))
    assert arrived_at(fixes, SCENE) == T0 + timedelta(seconds=50)


def test_fixes_out_of_order_are_judged_by_their_time() -> None:
    fixes = track((75, INSIDE), (0, OUTSIDE), (50, INSIDE), (40, OUTSIDE), (65, INSIDE))
    assert arrived_at(fixes, SCENE) == T0 + timedelta(seconds=50)


def test_fixes_before_the_unit_set_off_do_not_count() -> None:
    fixes = track((0, INSIDE), (10, INSIDE), (40, INSIDE), (60, INSIDE))
    assert arrived_at(fixes, SCENE, since=T0 + timedelta(seconds=30)) == T0 + timedelta(seconds=40)
    assert arrived_at(fixes, SCENE, since=T0 + timedelta(seconds=45)) is None


def test_a_fix_too_vague_for_the_fence_is_skipped() -> None:
    vague = TrackPoint(T0 + timedelta(seconds=20), *OUTSIDE, accuracy_m=500)
    fixes = [*track((0, INSIDE), (30, INSIDE)), vague]
    assert arrived_at(fixes, SCENE) == T0


def test_zero_dwell_counts_a_single_fix() -> None:
    assert arrived_at(track((0, INSIDE)), Fence(SCENE.lat, SCENE.lon, 80, 0)) == T0


def test_radius_and_dwell_are_the_fences_own() -> None:
    fixes = track((0, OUTSIDE), (10, OUTSIDE), (70, OUTSIDE))
    assert arrived_at(fixes, Fence(SCENE.lat, SCENE.lon, radius_m=250, dwell_s=60)) == T0
    assert arrived_at(fixes, Fence(SCENE.lat, SCENE.lon, radius_m=250, dwell_s=71)) is None


def test_coming_back_requires_having_been_away_when_asked() -> None:
    stayed = track((0, INSIDE), (30, INSIDE))
    assert arrived_at(stayed, SCENE, require_entry=True) is None
    returned = track((0, OUTSIDE), (10, INSIDE), (40, INSIDE))
    assert arrived_at(returned, SCENE, require_entry=True) == T0 + timedelta(seconds=10)
