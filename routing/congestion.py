"""Camera congestion: each camera watches some edges; its latest reading multiplies their
travel times until the reading expires.

Writes are O(1) under a lock (the reading is stored, the live state marked stale); the
live :class:`CongestionState` is rebuilt lazily by the next reader, as a new immutable
object swapped in whole, so a router thread always sees one consistent state.  Expiry
is evaluated on read against the injected clock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from routing.errors import BadCongestionLevel, OutsideRoadNetwork, UnknownCamera
from routing.geo import check_coordinate
from routing.graph import RoadGraph
from routing.snap import SegmentIndex

Clock = Callable[[], datetime]

#: Travel-time multiplier of each reading level; `closed` makes the edges impassable.
DEFAULT_LEVELS: Mapping[str, float] = MappingProxyType(
    {"free": 1.0, "slow": 1.5, "heavy": 2.5, "jam": 5.0, "closed": math.inf}
)
DEFAULT_TTL_S = 15 * 60.0
DEFAULT_CAMERA_RADIUS_M = 60.0
DEFAULT_FIELD_OF_VIEW_DEG = 90.0

_versions = count(1)


def utc_now() -> datetime:
    """The default clock: now, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(moment: datetime, *, name: str = "observed_at") -> datetime:
    """`moment` in UTC; ValueError for a naive datetime."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class Camera:
    """A camera mapped to the edges it watches."""

    code: str
    lat: float
    lon: float
    radius_m: float
    heading_deg: float | None
    edges: npt.NDArray[np.int64]


@dataclass(frozen=True)
class CameraReading:
    """The latest reading of one camera, valid until `expires_at`."""

    code: str
    level: str
    factor: float
    observed_at: datetime
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "camera": self.code,
            "level": self.level,
            "observed_at": self.observed_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class CongestionState:
    """Live multipliers at one moment: sorted edge ids, their factor (the worst reading
    among the cameras watching each) and the reading that set it."""

    version: int
    edge_ids: npt.NDArray[np.int64]
    factors: npt.NDArray[np.float64]
    edge_reading: tuple[CameraReading, ...]  # aligned with edge_ids
    readings: Mapping[str, CameraReading]
    next_expiry: datetime | None

    def reading_of(self, edge: int) -> CameraReading | None:
        pos = int(np.searchsorted(self.edge_ids, edge))
        if pos < len(self.edge_ids) and self.edge_ids[pos] == edge:
            return self.edge_reading[pos]
        return None


class CongestionModel:
    """Cameras, their readings and the live edge multipliers of one road graph."""

    def __init__(
        self,
        graph: RoadGraph,
        *,
        levels: Mapping[str, float] = DEFAULT_LEVELS,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Clock = utc_now,
        field_of_view_deg: float = DEFAULT_FIELD_OF_VIEW_DEG,
    ) -> None:
        for level, factor in levels.items():
            if not factor > 0:
                raise ValueError(f"congestion level {level!r}: multiplier must be positive, got {factor}")
        if not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        self.graph = graph
        self.levels = MappingProxyType(dict(levels))
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock
        self.field_of_view_deg = field_of_view_deg
        self._cameras: dict[str, Camera] = {}
        self._readings: dict[str, CameraReading] = {}
        self._lock = threading.Lock()
        self._state: CongestionState | None = None
        self._built: CongestionState | None = None  # the last state built, kept when readings change

    # -- cameras ----------------------------------------------------------------------

    def map_camera(
        self,
        code: str,
        lat: float,
        lon: float,
        radius_m: float = DEFAULT_CAMERA_RADIUS_M,
        heading_deg: float | None = None,
    ) -> Camera:
        """Map a camera to the edges (both directions of each road) it sees: every road
        within `radius_m`, and with `heading_deg` (0 = north, clockwise) only those inside
        its field of view.  Mapping a code again replaces it.  OutsideRoadNetwork when it
        sees no road."""
        lat, lon = check_coordinate(lat, lon, name=f"camera {code}")
        if not (math.isfinite(radius_m) and radius_m > 0):
            raise ValueError(f"camera {code}: radius_m must be a positive number, got {radius_m}")
        if heading_deg is not None and not math.isfinite(heading_deg):
            raise ValueError(f"camera {code}: heading_deg must be finite, got {heading_deg}")
        index: SegmentIndex = self.graph.lazy("segments:all", lambda: SegmentIndex(self.graph))
        roads = index.roads_within(lat, lon, radius_m, heading_deg, self.field_of_view_deg)
        if len(roads) == 0:
            raise OutsideRoadNetwork(f"camera {code} at ({lat:.6f}, {lon:.6f}) sees no road within {radius_m:.0f} m")
        both = np.concatenate((self.graph.road_fwd_edge[roads], self.graph.road_bwd_edge[roads]))
        camera = Camera(code, lat, lon, float(radius_m), heading_deg, np.unique(both[both >= 0]).astype(np.int64))
        with self._lock:
            self._cameras[code] = camera
            self._state = None
        return camera

    def unmap_camera(self, code: str) -> None:
        with self._lock:
            if self._cameras.pop(code, None) is None:
                raise UnknownCamera(f"unknown camera {code!r}")
            self._readings.pop(code, None)
            self._state = None

    def camera(self, code: str) -> Camera:
        try:
            return self._cameras[code]
        except KeyError:
            raise UnknownCamera(f"unknown camera {code!r}: map it to the road graph first") from None

    @property
    def camera_codes(self) -> list[str]:
        return sorted(self._cameras)

    # -- readings ---------------------------------------------------------------------

    def apply_reading(self, code: str, level: str, observed_at: datetime | None = None) -> CameraReading:
        """Record a camera's reading; it holds for the TTL from `observed_at` (from now if
        that lies in the future).  A reading older than the camera's current one is ignored
        (replays are harmless); the current one is returned."""
        factor = self.levels.get(level) if isinstance(level, str) else None
        if factor is None:
            raise BadCongestionLevel(f"congestion level {level!r} is not one of: {', '.join(self.levels)}")
        if code not in self._cameras:
            raise UnknownCamera(f"unknown camera {code!r}: map it to the road graph first")
        now = self.clock()
        observed = now if observed_at is None else as_utc(observed_at)
        reading = CameraReading(code, level, factor, observed, min(observed, now) + self.ttl)
        with self._lock:
            current = self._readings.get(code)
            if current is not None and current.observed_at > observed:
                return current
            self._readings[code] = reading
            self._state = None
        return reading

    def apply_readings(self, readings: Iterable[tuple[str, str, datetime | None]]) -> None:
        """Several (code, level, observed_at) readings; all are checked before any is applied."""
        batch = list(readings)
        for code, level, observed_at in batch:
            if not isinstance(level, str) or level not in self.levels:
                raise BadCongestionLevel(f"congestion level {level!r} is not one of: {', '.join(self.levels)}")
            if code not in self._cameras:
                raise UnknownCamera(f"unknown camera {code!r}: map it to the road graph first")
            if observed_at is not None:
                as_utc(observed_at)
        for code, level, observed_at in batch:
            self.apply_reading(code, level, observed_at)

    def clear(self) -> None:
        """Forget every reading (cameras stay mapped)."""
        with self._lock:
            self._readings.clear()
            self._state = None

    # -- live state -------------------------------------------------------------------

    def state(self) -> CongestionState:
        """The live multipliers now (by the clock); rebuilt only after a change or expiry."""
        now = self.clock()
        state = self._state
        if state is not None and (state.next_expiry is None or now < state.next_expiry):
            return state
        with self._lock:
            state = self._state
            if state is None or (state.next_expiry is not None and now >= state.next_expiry):
                state = self._rebuild(now)
                self._state = state
            return state

    def snapshot(self) -> dict[str, CameraReading]:
        """Camera code → its unexpired reading (level, observed_at, expires_at), for the map."""
        return dict(self.state().readings)

    def _rebuild(self, now: datetime) -> CongestionState:
        for code in [c for c, r in self._readings.items() if r.expires_at <= now]:
            del self._readings[code]
        live = dict(self._readings)
        slowing = [r for r in live.values() if r.factor != 1.0 and r.code in self._cameras]
        next_expiry = min((r.expires_at for r in live.values()), default=None)
        if not slowing:
            edge_ids, factors, edge_reading = np.zeros(0, dtype=np.int64), np.zeros(0), ()
        else:
            per_camera = [self._cameras[r.code].edges for r in slowing]
            edges = np.concatenate(per_camera)
            which = np.repeat(np.arange(len(slowing)), [len(e) for e in per_camera])
            factor_of = np.array([r.factor for r in slowing])[which]
            order = np.lexsort((-factor_of, edges))
            edges, which, factor_of = edges[order], which[order], factor_of[order]
            first = np.concatenate(([True], edges[1:] != edges[:-1]))
            edge_ids, factors = edges[first], factor_of[first]
            edge_reading = tuple(slowing[i] for i in which[first])
        # The version names the multipliers, not the readings: a camera repeating its level (every
        # minute or so, each one) or a free reading expiring changes no edge time, so every search
        # and weight kept for the version before stays good (a router keeps them per version).
        before = self._built
        if before is not None and np.array_equal(before.edge_ids, edge_ids) and np.array_equal(before.factors, factors):
            version = before.version
        else:
            version = next(_versions)
        state = CongestionState(
            version=version,
            edge_ids=edge_ids,
            factors=factors,
            edge_reading=edge_reading,
            readings=MappingProxyType(live),
            next_expiry=next_expiry,
        )
        self._built = state
        return state
