"""Recommendation: the capable units ranked by travel time to the incident (pure).

Travel times come from a `TravelTimes` estimator: the road router once it is loaded,
or `GeodesicTravelTimes` (straight-line distance × a detour factor at a city speed)
when no road graph is configured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

import numpy as np

from dispatch.units import UnitType
from routing.geo import haversine_m

LatLon = tuple[float, float]
RankedFrom = Literal["position", "station"]
T = UnitType

#: Which unit types can answer which incident type (first listed = first choice).
CAPABLE_UNIT_TYPES: dict[str, tuple[UnitType, ...]] = {
    "kebakaran": (T.FIRE_ENGINE, T.WATER_TANKER, T.RESCUE),
    "medis": (T.HOME_CARE, T.AMBULANCE),
    "kecelakaan": (T.AMBULANCE, T.POLICE, T.RESCUE, T.HOME_CARE),
    "penyelamatan": (T.RESCUE, T.FIRE_ENGINE),
    "bencana": (T.RESCUE, T.FIRE_ENGINE, T.WATER_TANKER, T.AMBULANCE),
    "keamanan": (T.POLICE,),
    "lainnya": tuple(UnitType),
}


class TravelEstimate(Protocol):
    """`eta_s` is the arrival time (driving plus the last part on foot, if any); `reachable`
    False means no answer at all; `walk_m` is how far the crew walks from where the vehicle
    stops (`stop`); `closed_road`: it stops there because a camera closed the way on."""

    @property
    def eta_s(self) -> float: ...
    @property
    def distance_m(self) -> float: ...
    @property
    def reachable(self) -> bool: ...
    @property
    def walk_m(self) -> float: ...
    @property
    def stop(self) -> LatLon | None: ...
    @property
    def closed_road(self) -> bool: ...


class TravelTimes(Protocol):
    method: Literal["road", "geodesic"]

    def travel_times_to(self, target: LatLon, sources: Sequence[LatLon], profile: str) -> Sequence[TravelEstimate]: ...


@dataclass(frozen=True)
class StraightLineEstimate:
    eta_s: float
    distance_m: float
    reachable: bool = True
    walk_m: float = 0.0
    stop: LatLon | None = None
    closed_road: bool = False


@dataclass(frozen=True)
class GeodesicTravelTimes:
    """Great-circle distance × `detour_factor`, driven at `speed_kmh` (all sources in one numpy pass:
    the fallback must stay as fast as the road search it stands in for)."""

    speed_kmh: float = 30.0
    detour_factor: float = 1.35
    method: Literal["road", "geodesic"] = "geodesic"

    def travel_times_to(self, target: LatLon, sources: Sequence[LatLon], profile: str) -> list[StraightLineEstimate]:
        if not sources:
            return []
        points = np.asarray(sources, dtype=np.float64)
        metres = haversine_m(points[:, 0], points[:, 1], target[0], target[1]) * self.detour_factor
        speed_mps = self.speed_kmh / 3.6
        return [StraightLineEstimate(m / speed_mps, m) for m in metres.tolist()]


@dataclass(frozen=True)
class Candidate:
    unit_id: int
    callsign: str
    unit_type: UnitType
    agency: str
    position: LatLon | None
    position_at: datetime | None
    station: LatLon | None


@dataclass(frozen=True)
class Ranked:
    unit_id: int
    callsign: str
    type: UnitType
    agency: str
    eta_s: float
    distance_m: float
    position_age_s: float | None
    ranked_from: RankedFrom
    reason: str | None
    method: Literal["road", "geodesic"]
    walk_m: float = 0.0
    closed_road: bool = False
    walk_reason: str | None = None
    stop: LatLon | None = None


_new = object.__new__


def walk_reason(walk_m: float, closed_road: bool) -> str | None:
    """Why the crew walks the last part, for the dispatcher and the crew (None: they drive up)."""
    if closed_road:
        return f"road closed at the scene: the vehicle stops {walk_m:.0f} m away and the crew walks"
    if walk_m > 0:
        return f"the vehicle cannot use the road at the scene: the crew walks {walk_m:.0f} m"
    return None


def origin_of(
    candidate: Candidate, now: datetime, stale_after_s: float
) -> tuple[LatLon | None, RankedFrom, str | None, float | None]:
    """Where to measure a unit from: its live fix when fresh, else its station (and why)."""
    age = (now - candidate.position_at).total_seconds() if candidate.position_at else None
    if candidate.position is not None and age is not None and age <= stale_after_s:
        return candidate.position, "position", None, max(age, 0.0)
    reason = (
        "no GPS fix received"
        if candidate.position is None or age is None
        else f"last GPS fix is {int(age)} s old (stale after {int(stale_after_s)} s)"
    )
    if candidate.station is None:
        return None, "station", reason + "; no station either", age
    return candidate.station, "station", reason + "; ranked from its station", age


def capable_types(
    incident_type: str, table: Mapping[str, Sequence[UnitType]] = CAPABLE_UNIT_TYPES
) -> tuple[UnitType, ...]:
    return tuple(table.get(incident_type, table["lainnya"]))


class Ranking:
    """Every reachable candidate in rank order (ETA, then distance, then callsign), each made a
    `Ranked` only when it is asked for: a recommendation ranks hundreds of units and shows a few."""

    def __init__(self, scored: list[_Scored], method: Literal["road", "geodesic"]) -> None:
        self._scored = scored
        self._method = method
        self._made: dict[int, Ranked] = {}

    def __len__(self) -> int:
        return len(self._scored)

    def best(self, limit: int | None = None) -> list[Ranked]:
        """The first `limit` (None: all) in rank order."""
        chosen = self._scored if limit is None else self._scored[:limit]
        return [self._ranked(k, s) for k, s in enumerate(chosen)]

    def best_of_each_type(self, per_type: int) -> list[Ranked]:
        """The first `per_type` of every unit type, in rank order (what a run card's slots draw from)."""
        seen: dict[UnitType, int] = {}
        out = []
        for k, s in enumerate(self._scored):
            unit_type = s[3].unit_type
            n = seen.get(unit_type, 0)
            if n < per_type:
                seen[unit_type] = n + 1
                out.append(self._ranked(k, s))
        return out

    def _ranked(self, k: int, scored: _Scored) -> Ranked:
        made = self._made.get(k)
        if made is not None:
            return made
        eta, distance, _callsign, candidate, est, ranked_from, reason, age = scored
        walk, closed = est.walk_m, est.closed_road
        # Built as the frozen dataclass's __init__ would (same fields, same order) without its
        # per-field setattr.
        made = _new(Ranked)
        made.__dict__.update(
            unit_id=candidate.unit_id,
            callsign=candidate.callsign,
            type=candidate.unit_type,
            agency=candidate.agency,
            eta_s=eta,
            distance_m=distance,
            position_age_s=None if age is None else round(age, 1),
            ranked_from=ranked_from,
            reason=reason,
            method=self._method,
            walk_m=round(walk, 1),
            closed_road=closed,
            walk_reason=walk_reason(walk, closed) if walk > 0 or closed else None,
            stop=est.stop if walk > 0 or closed else None,
        )
        self._made[k] = made
        return made


#: (eta_s, distance_m rounded as shown, callsign: the sort key; then what a `Ranked` is made of)
_Scored = tuple[float, float, str, Candidate, TravelEstimate, RankedFrom, str | None, float | None]


def rank(
    target: LatLon,
    candidates: Sequence[Candidate],
    estimator: TravelTimes,
    *,
    now: datetime,
    stale_after_s: float,
) -> Ranking:
    """Candidates by ETA (then distance, then callsign); units with no origin or no road are left
    out. One search per unit type."""
    by_type: dict[UnitType, list[tuple[Candidate, LatLon, RankedFrom, str | None, float | None]]] = {}
    for candidate in candidates:
        origin, ranked_from, reason, age = origin_of(candidate, now, stale_after_s)
        if origin is not None:
            by_type.setdefault(candidate.unit_type, []).append((candidate, origin, ranked_from, reason, age))
    scored: list[_Scored] = []
    isfinite = math.isfinite
    for unit_type, group in by_type.items():
        estimates = estimator.travel_times_to(target, [g[1] for g in group], str(unit_type))
        for (candidate, _origin, ranked_from, reason, age), est in zip(group, estimates, strict=True):
            eta = est.eta_s
            if est.reachable and isfinite(eta):
                scored.append(
                    (
                        round(eta, 1),
                        round(est.distance_m, 1),
                        candidate.callsign,
                        candidate,
                        est,
                        ranked_from,
                        reason,
                        age,
                    )
                )
    scored.sort(key=_sort_key)
    return Ranking(scored, estimator.method)


def _sort_key(scored: _Scored) -> tuple[float, float, str]:
    return scored[0], scored[1], scored[2]


def rank_candidates(
    target: LatLon,
    candidates: Sequence[Candidate],
    estimator: TravelTimes,
    *,
    now: datetime,
    stale_after_s: float,
    limit: int | None = None,
) -> list[Ranked]:
    """Candidates by ETA (then distance, then callsign); units with no origin or no road are left out."""
    return rank(target, candidates, estimator, now=now, stale_after_s=stale_after_s).best(limit)
