"""Distances on the Earth and a local metric projection for one city.

One distance, two speeds: :func:`distance_m` is the geodesic on the WGS 84 ellipsoid (geopy), for a
distance between two places wherever a few of them are measured; where thousands are (road lengths,
snapping, a GPS fix against its fence) the sphere's great circle is within 0.6 % of it and a hundred
times faster: :func:`haversine_m` element-wise over arrays, :func:`great_circle_m` for one pair
(tests/unit/routing/test_geo.py holds both equal to geopy's great circle, and near its geodesic).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from geopy.distance import geodesic

EARTH_RADIUS_M = 6_371_008.8
_DEG = math.pi / 180.0

FloatArray = npt.NDArray[np.float64]


def check_coordinate(lat: float, lon: float, *, name: str = "position") -> tuple[float, float]:
    """Return (lat, lon) as floats, or raise ValueError naming the bad value."""
    try:
        lat_f, lon_f = float(lat), float(lon)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: latitude/longitude must be numbers, got {lat!r}, {lon!r}") from exc
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)):
        raise ValueError(f"{name}: latitude/longitude must be finite, got {lat_f}, {lon_f}")
    if not (-90.0 <= lat_f <= 90.0 and -180.0 <= lon_f <= 180.0):
        raise ValueError(f"{name}: ({lat_f}, {lon_f}) is not a WGS84 latitude/longitude")
    return lat_f, lon_f


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two places along the WGS 84 ellipsoid (Karney's geodesic, through geopy)."""
    return float(geodesic((lat1, lon1), (lat2, lon2)).meters)


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two places on the sphere of the Earth's mean radius: :func:`haversine_m` for one
    pair, without numpy's per-call cost (a GPS fix checked against its fence)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0)))


def haversine_m(
    lat1: FloatArray | float, lon1: FloatArray | float, lat2: FloatArray | float, lon2: FloatArray | float
) -> FloatArray:
    """Great-circle distance in metres, element-wise."""
    p1 = np.asarray(lat1, dtype=np.float64) * _DEG
    p2 = np.asarray(lat2, dtype=np.float64) * _DEG
    dp = p2 - p1
    dl = (np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64)) * _DEG
    a = np.sin(dp / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))), dtype=np.float64)


class LocalProjection:
    """Equirectangular projection around a city centre: metres east (x) and north (y).

    Over a city (tens of km) its distances differ from great-circle ones by well under 1 %,
    which is all snapping needs; lengths of roads come from :func:`haversine_m`.
    """

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0 = lat0
        self.lon0 = lon0
        self._ky = EARTH_RADIUS_M * _DEG
        self._kx = self._ky * math.cos(lat0 * _DEG)

    def to_xy(self, lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * self._kx
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * self._ky
        return x, y

    def to_latlon(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        lat = np.asarray(y, dtype=np.float64) / self._ky + self.lat0
        lon = np.asarray(x, dtype=np.float64) / self._kx + self.lon0
        return lat, lon
