"""Travel times by road: the router behind the recommendation's `TravelTimes` interface."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, NamedTuple

from routing import Router

LatLon = tuple[float, float]


class RoadEstimate(NamedTuple):
    """One unit's way to the incident as the ranking reads it (a tuple: a recommendation makes
    hundreds, and a frozen dataclass costs several times more to build)."""

    eta_s: float  # arrival: driving, plus walking where the vehicle cannot reach the spot
    distance_m: float
    reachable: bool
    walk_m: float
    stop: LatLon | None = None
    closed_road: bool = False


class RoadTravelTimes:
    method: Literal["road", "geodesic"] = "road"

    def __init__(self, router: Router) -> None:
        self.router = router

    def travel_times_to(self, target: LatLon, sources: Sequence[LatLon], profile: str) -> list[RoadEstimate]:
        """One reverse search from the incident for all `sources` of one vehicle profile."""
        return [
            RoadEstimate(
                t.arrival_s,
                t.distance_m,
                t.error is None and math.isfinite(t.arrival_s),
                t.walk_m,
                t.stop,
                t.closed_road,
            )
            for t in self.router.travel_times_to(target, sources, profile)
        ]
