"""Arrival by GPS: has a unit stayed inside a circle long enough to count as there (pure).

Decided from the unit's recent fixes alone, not from state kept between requests, so any
worker process that receives the latest fix reaches the same answer, and fixes that
arrive late and out of order are judged where they belong in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from routing.geo import great_circle_m


@dataclass(frozen=True)
class Fence:
    """A circle around a place (the incident, the unit's station) and how long to stay in it."""

    lat: float
    lon: float
    radius_m: float = 80.0
    dwell_s: float = 20.0


@dataclass(frozen=True)
class TrackPoint:
    """One fix of the unit's track as the fence sees it."""

    at: datetime
    lat: float
    lon: float
    accuracy_m: float | None = None


def arrived_at(
    track: Sequence[TrackPoint], fence: Fence, since: datetime | None = None, *, require_entry: bool = False
) -> datetime | None:
    """When the unit arrived, if its latest fixes have stayed inside `fence` for its dwell.

    The arrival is the first fix of the unbroken run of fixes inside the fence that ends
    with the newest fix, counting only fixes from `since` on (when the unit set off).
    A fix whose accuracy is worse than the radius says nothing either way and is skipped.
    `require_entry`: the run must follow a fix outside (the unit came back, rather than never
    left: a station next door to the incident does not make the unit available at once).
    None while the unit is outside, or inside for less than the dwell."""
    points = sorted(
        (p for p in track if (since is None or p.at >= since) and (p.accuracy_m or 0.0) <= fence.radius_m),
        key=lambda p: p.at,
    )
    if not points:
        return None
    first_inside: TrackPoint | None = None
    entered = False
    for point in reversed(points):
        if great_circle_m(point.lat, point.lon, fence.lat, fence.lon) > fence.radius_m:
            entered = True
            break
        first_inside = point
    if first_inside is None or (require_entry and not entered):
        return None
    stayed_s = (points[-1].at - first_inside.at).total_seconds()
    return first_inside.at if stayed_s >= fence.dwell_s else None
