"""Coverage of the city by the available units, per unit type, and move-up suggestions.

The arithmetic is routing.coverage's (pure); this use case reads the units, stations and
cameras, places each available unit where the recommendation measures it from (a fresh GPS
fix, else its station: dispatch.recommend.origin_of), and keeps the answers: a type's answer
is reused while its key is the same (the congestion version, the target, the units' origins
rounded to 4 decimals ≈ 11 m, the posts, the districts), so dispatchers refreshing together
cost one computation and GPS jitter does not start a new one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cad.models import Camera, Station, Unit
from dispatch.recommend import Candidate, origin_of
from dispatch.units import UnitStatus, UnitType
from routing import Router
from routing.coverage import CoverageEngine, Districts, uncovered_layer

#: A district counts as covered when at least this share of its road length is.
DISTRICT_COVERED_SHARE = 0.9
#: A district "regains coverage" in a suggestion when its share rises by at least this much.
DISTRICT_GAIN = 0.005
#: Origins are rounded to this many decimals of a degree (≈ 11 m) for the cache key and the search.
ORIGIN_DECIMALS = 4
#: Type answers kept (several types, several target settings, a few recent fleet states).
KEPT = 32

LatLon = tuple[float, float]


@dataclass(frozen=True)
class Post:
    station_id: int
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Placed:
    unit_id: int
    callsign: str
    origin: LatLon
    ranked_from: str


class CoverageService:
    """One per app (per process): the engine of the loaded router, the districts, the answers kept."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._engine: CoverageEngine | None = None
        self._districts: tuple[tuple[Any, ...], Districts] | None = None
        self._answers: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self.computed = 0  # answers computed (not served from the kept ones): for tests and logs

    def engine(self, router: Router) -> CoverageEngine:
        with self._lock:
            if self._engine is None or self._engine.router is not router:
                self._engine = CoverageEngine(router)
                self._answers.clear()
            return self._engine

    def districts(self, session: Session, router: Router) -> Districts:
        rows = tuple(
            session.execute(
                select(Camera.id, Camera.lat, Camera.lon, Camera.district)
                .where(Camera.district.is_not(None))
                .order_by(Camera.id)
            ).all()
        )
        key = tuple(tuple(r) for r in rows)
        with self._lock:
            if self._districts is not None and self._districts[0] == key:
                return self._districts[1]
        found = Districts.nearest(router.graph, [(r[1], r[2]) for r in rows], [str(r[3]) for r in rows])
        with self._lock:
            self._districts = (key, found)
        return found

    def report(
        self,
        session: Session,
        router: Router,
        *,
        now: datetime,
        stale_after_s: float,
        targets: Mapping[str, float],
        unit_type: UnitType | None,
        suggestions: int,
        layer: bool,
    ) -> dict[str, Any]:
        """Per unit type (those in the fleet, or `unit_type`): the covered share of road length and
        of each district, the uncovered roads (GeoJSON, when `layer`), and the best move-ups."""
        engine = self.engine(router)
        districts = self.districts(session, router)
        units = list(session.scalars(select(Unit).order_by(Unit.callsign)))
        stations = {s.id: s for s in session.scalars(select(Station).order_by(Station.id))}
        types = [unit_type] if unit_type is not None else sorted({u.type for u in units}, key=list(UnitType).index)
        version = router.congestion.state().version
        out = []
        for kind in types:
            of_type = [u for u in units if u.type is kind]
            placed, unplaced = _placed(of_type, stations, now, stale_after_s)
            posts = _posts(of_type, stations)
            target = targets[str(kind)]
            key = (
                str(kind),
                target,
                version,
                tuple((p.unit_id, p.origin) for p in placed),
                tuple(posts),
                id(districts),  # a new object when the cameras change
                suggestions,
                layer,
            )
            with self._lock:
                answer = self._answers.get(key)
                if answer is not None:
                    self._answers.move_to_end(key)
            if answer is None:
                answer = _type_report(engine, districts, kind, target, placed, posts, suggestions, layer)
                with self._lock:
                    self.computed += 1
                    self._answers[key] = answer
                    while len(self._answers) > KEPT:
                        self._answers.popitem(last=False)
            available = sum(1 for u in of_type if u.status is UnitStatus.AVAILABLE)
            out.append(
                {**answer, "units_total": len(of_type), "units_available": available, "units_unplaced": unplaced}
            )
        return {"computed_at": now, "types": out}


def _placed(
    units: Sequence[Unit], stations: Mapping[int, Station], now: datetime, stale_after_s: float
) -> tuple[list[Placed], list[str]]:
    """The available units with where they are measured from, and the callsigns of those with nowhere."""
    placed: list[Placed] = []
    unplaced: list[str] = []
    for unit in units:
        if unit.status is not UnitStatus.AVAILABLE:
            continue
        station = stations.get(unit.station_id) if unit.station_id is not None else None
        candidate = Candidate(
            unit_id=unit.id,
            callsign=unit.callsign,
            unit_type=unit.type,
            agency="",
            position=(unit.lat, unit.lon) if unit.lat is not None and unit.lon is not None else None,
            position_at=unit.position_at,
            station=(station.lat, station.lon) if station is not None else None,
        )
        origin, ranked_from, _, _ = origin_of(candidate, now, stale_after_s)
        if origin is None:
            unplaced.append(unit.callsign)
            continue
        rounded = (round(origin[0], ORIGIN_DECIMALS), round(origin[1], ORIGIN_DECIMALS))
        placed.append(Placed(unit.id, unit.callsign, rounded, ranked_from))
    return placed, unplaced


def _posts(units: Sequence[Unit], stations: Mapping[int, Station]) -> list[Post]:
    """Where units of this type may be stationed: the stations of the agencies that have such units."""
    agencies = {u.agency_id for u in units}
    return [Post(s.id, s.name, s.lat, s.lon) for s in stations.values() if s.agency_id in agencies]


def _type_report(
    engine: CoverageEngine,
    districts: Districts,
    kind: UnitType,
    target_s: float,
    placed: Sequence[Placed],
    posts: Sequence[Post],
    suggestions: int,
    layer: bool,
) -> dict[str, Any]:
    profile = str(kind)
    origins = [p.origin for p in placed]
    now, moves, _ = engine.move_ups(profile, origins, [(p.lat, p.lon) for p in posts], target_s, suggestions)
    before = districts.shares(now.weight_m, now.covered)
    off_road = [placed[i].callsign for i in range(len(placed)) if not now.located[i]]
    total = now.total_m
    out_moves = []
    for move in moves:
        unit, post = placed[move.unit], posts[move.post]
        after = districts.shares(now.weight_m, move.covered_after)
        out_moves.append(
            {
                "unit_id": unit.unit_id,
                "callsign": unit.callsign,
                "origin": {"lat": unit.origin[0], "lon": unit.origin[1], "ranked_from": unit.ranked_from},
                "station_id": post.station_id,
                "station": post.name,
                "post": {"lat": post.lat, "lon": post.lon},
                "gain_km": round(move.gain_m / 1000, 3),
                "gain_share": round(move.gain_m / total, 4) if total > 0 else 0.0,
                "share_after": round(move.share_after, 4),
                "districts": [
                    {"name": name, "share_before": _share(before[name]), "share_after": _share(after[name])}
                    for name in districts.names
                    if _share(after[name]) - _share(before[name]) >= DISTRICT_GAIN
                ],
            }
        )
    district_rows = [
        {
            "name": name,
            "covered_km": round(done / 1000, 3),
            "total_km": round(all_m / 1000, 3),
            "share": _share((done, all_m)),
            "covered": _share((done, all_m)) >= DISTRICT_COVERED_SHARE,
        }
        for name, (done, all_m) in before.items()
    ]
    edge_ok = engine.router.edge_mask(profile)
    return {
        "type": profile,
        "target_s": target_s,
        "units_off_road": off_road,
        "covered_km": round(now.covered_m / 1000, 3),
        "total_km": round(total / 1000, 3),
        "share": round(now.share, 4),
        "districts": district_rows,
        "districts_covered": sum(1 for d in district_rows if d["covered"]),
        "suggestions": out_moves,
        "uncovered": uncovered_layer(engine.graph, edge_ok, now.covered) if layer else None,
    }


def _share(pair: tuple[float, float]) -> float:
    done, total = pair
    return round(done / total, 4) if total > 0 else 0.0
