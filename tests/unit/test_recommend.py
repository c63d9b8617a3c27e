"""Ranking units by travel time, from their live fix or, when it is stale, their station."""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from dispatch.recommend import (
    Candidate,
    GeodesicTravelTimes,
    StraightLineEstimate,
    capable_types,
    origin_of,
    rank,
    rank_candidates,
)
from dispatch.runcards import RUN_CARDS, fill, reach
from dispatch.units import UnitType

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
TARGET = (-1.2650, 116.8400)


def candidate(
    uid: int,
    position: tuple[float, float] | None,
    age_s: float | None,
    station: tuple[float, float] | None = (-1.2700, 116.8300),
    unit_type: UnitType = UnitType.FIRE_ENGINE,
) -> Candidate:
    return Candidate(
        uid,
        f"DMK-{uid:02d}",
        unit_type,
        "damkar",
        position,
        None if age_s is None else NOW - timedelta(seconds=age_s),
        station,
    )


@dataclass
class ScriptedTimes:
    """Travel times decided by the test; records the calls it gets."""

    eta_by_source: dict[tuple[float, float], float]
    method: Literal["road", "geodesic"] = "road"

    def __post_init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def travel_times_to(
        self, target: tuple[float, float], sources: Sequence[tuple[float, float]], profile: str
    ) -> list[StraightLineEstimate]:
        self.calls.append((profile, len(sources)))
        return [
            StraightLineEstimate(self.eta_by_source.get(s, float("inf")), 100.0, reachable=s in self.eta_by_source)
            for s in sources
        ]


def test_fresh_fix_is_the_origin() -> None:
    origin, ranked_from, reason, age = origin_of(candidate(1, (-1.26, 116.84), 30), NOW, 120)
    assert (origin, ranked_from, reason, age) == ((-1.26, 116.84), "position", None, 30)


def test_stale_fix_ranks_from_station_and_says_why() -> None:
    origin, ranked_from, reason, age = origin_of(candidate(1, (-1.26, 116.84), 600), NOW, 120)
    assert origin == (-1.2700, 116.8300) and ranked_from == "station"
    assert reason is not None and "600 s old" in reason and age == 600


def test_no_fix_and_no_station_cannot_be_ranked() -> None:
    origin, _, reason, _ = origin_of(candidate(1, None, None, station=None), NOW, 120)
    assert origin is None and reason is not None and "no station" in reason


def test_ranked_by_eta_unreachable_left_out_one_search_per_unit_type() -> None:
    a, b, c = (-1.261, 116.84), (-1.262, 116.84), (-1.263, 116.84)
    times = ScriptedTimes({a: 300.0, b: 120.0})
    units = [
        candidate(1, a, 5),
        candidate(2, b, 5),
        candidate(3, c, 5),
        candidate(4, a, 5, unit_type=UnitType.WATER_TANKER),
    ]
    ranked = rank_candidates(TARGET, units, times, now=NOW, stale_after_s=120)
    assert [r.unit_id for r in ranked] == [2, 1, 4]
    assert sorted(times.calls) == [("fire_engine", 3), ("water_tanker", 1)]
    assert all(r.method == "road" for r in ranked)


def test_ties_break_on_distance_then_callsign_and_limit_applies() -> None:
    a = (-1.261, 116.84)
    ranked = rank_candidates(
        TARGET, [candidate(i, a, 5) for i in (3, 1, 2)], ScriptedTimes({a: 60.0}), now=NOW, stale_after_s=120, limit=2
    )
    assert [r.callsign for r in ranked] == ["DMK-01", "DMK-02"]


def test_geodesic_estimate_is_detoured_distance_at_city_speed() -> None:
    estimator = GeodesicTravelTimes(speed_kmh=36.0, detour_factor=1.5)
    near, far = estimator.travel_times_to(TARGET, [(-1.266, 116.84), (-1.30, 116.84)], "fire_engine")
    # 0.035 degrees of latitude near the equator is about 3,870 m
    assert far.distance_m == pytest.approx(3870 * 1.5, rel=0.01)
    assert far.eta_s == pytest.approx(far.distance_m / 10.0)
    assert 0 < near.eta_s < far.eta_s


def test_capable_types_fall_back_to_everything_for_unknown_types() -> None:
    assert capable_types("medis") == (UnitType.HOME_CARE, UnitType.AMBULANCE)
    assert set(capable_types("something-new")) == set(UnitType)


@pytest.mark.parametrize("seed", range(20))
def test_a_ranking_makes_rows_only_for_what_is_asked_and_fills_run_cards_the_same(seed: int) -> None:
    rng = random.Random(seed)
    types = list(UnitType)
    spots = [(-1.26 - rng.random() / 100, 116.84 + rng.random() / 100) for _ in range(12)]
    times = ScriptedTimes({s: float(rng.choice([60, 90, 120, 180, 300])) for s in spots[:10]})  # 2 unreachable
    units = [candidate(i, rng.choice(spots), 5, unit_type=rng.choice(types)) for i in range(1, 61)]
    ranking = rank(TARGET, units, times, now=NOW, stale_after_s=120)
    every = rank_candidates(TARGET, units, times, now=NOW, stale_after_s=120)
    assert len(ranking) == len(every) and ranking.best() == every and ranking.best(5) == every[:5]
    for name, slots in RUN_CARDS.items():
        assert fill(slots, ranking.best_of_each_type(reach(slots))) == fill(slots, every), name
    one_each = ranking.best_of_each_type(1)
    assert one_each == [r for r in every if r is next(x for x in every if x.type == r.type)]
