"""What happens in the simulated city, as plain functions of time and chance.

No network and no clock of its own: the driver (`simulator.run`) asks these what to do next.
Times of day are WITA hours (0–24, float); durations are seconds of simulated time.
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from geopy.distance import great_circle

#: Relative 112 call volume by WITA hour: quiet at night, peaks at the morning and evening rush.
_CALLS_BY_HOUR = (
    0.45, 0.35, 0.30, 0.30, 0.35, 0.55, 0.85, 1.20, 1.30, 1.15, 1.05, 1.05,
    1.10, 1.05, 1.05, 1.15, 1.35, 1.45, 1.40, 1.25, 1.10, 0.95, 0.75, 0.55,
)  # fmt: skip


def call_rate_factor(hour: float) -> float:
    """How busy the phones are at `hour` (WITA) relative to the day's mean (≈ 1.0)."""
    h = hour % 24
    low = int(h)
    weight = h - low
    return _CALLS_BY_HOUR[low] * (1 - weight) + _CALLS_BY_HOUR[(low + 1) % 24] * weight


def traffic(hour: float) -> float:
    """Road load at `hour` (WITA), 0 (empty streets) … 1 (the worst of the evening rush)."""
    h = hour % 24
    morning = math.exp(-(((h - 7.5) / 1.2) ** 2))
    evening = math.exp(-(((h - 17.5) / 1.6) ** 2))
    midday = 0.35 * math.exp(-(((h - 12.5) / 2.5) ** 2))
    return min(1.0, max(morning, evening, midday))


def congestion_level(hour: float, camera_bias: float, noise: float) -> str:
    """What a camera reports: the day's traffic, the spot's own busyness (`camera_bias`, −1 … 1)
    and a moment's chance (`noise`, 0 … 1)."""
    load = traffic(hour) + 0.25 * camera_bias + 0.3 * (noise - 0.5)
    if load < 0.35:
        return "free"
    if load < 0.6:
        return "slow"
    if load < 0.85:
        return "heavy"
    return "jam"


def next_call_in_s(rate_per_min: float, hour: float, rng: random.Random) -> float:
    """Seconds until the next call: a Poisson process at `rate_per_min` × the hour's factor."""
    per_s = max(rate_per_min * call_rate_factor(hour) / 60.0, 1e-9)
    return rng.expovariate(per_s)


@dataclass(frozen=True)
class Story:
    """An emergency as the caller tells it, and what the call-taker makes of it."""

    incident_type: str
    priority: int
    description: str
    sms: bool


_STORIES: tuple[tuple[float, str, int, str], ...] = (
    (0.20, "kebakaran", 1, "Rumah terbakar, asap tebal, warga panik"),
    (0.05, "kebakaran", 2, "Kabel listrik terbakar di tiang"),
    (0.30, "medis", 2, "Orang tua pingsan di rumah, sesak napas"),
    (0.08, "medis", 1, "Pria tidak sadarkan diri di pinggir jalan"),
    (0.20, "kecelakaan", 2, "Tabrakan motor dan mobil, satu orang luka"),
    (0.05, "penyelamatan", 2, "Anak terjebak di dalam mobil terkunci"),
    (0.04, "bencana", 2, "Air naik setinggi lutut di permukiman"),
    (0.08, "keamanan", 3, "Perkelahian di depan pasar"),
)


def story(rng: random.Random, sms_share: float = 0.15) -> Story:
    """A random emergency, weighted like a city's 112 traffic."""
    weights = [w for w, *_ in _STORIES]
    _, kind, priority, text = rng.choices(_STORIES, weights=weights)[0]
    return Story(kind, priority, text, rng.random() < sms_share)


_FIRST = ("Andi", "Budi", "Citra", "Dewi", "Eka", "Fajar", "Gita", "Hasan", "Indah", "Joko", "Rina", "Wahyu")
_LAST = ("Saputra", "Wijaya", "Hidayat", "Lestari", "Pratama", "Rahman", "Siregar", "Kurniawan", "Daeng")


def caller(rng: random.Random) -> tuple[str, str]:
    """A caller's name and Indonesian mobile number (+62 8xx)."""
    name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    return name, f"+628{rng.choice('1235789')}{rng.randrange(10**8, 10**9)}"


def turnout_s(rng: random.Random, priority: int) -> float:
    """Seconds from the crew's notification to rolling: log-normal around a minute, longer
    for less urgent jobs, never under 15 s (crews have to get to the vehicle)."""
    median = 50.0 if priority <= 1 else 70.0
    return max(15.0, rng.lognormvariate(math.log(median), 0.35))


def on_scene_s(rng: random.Random, incident_type: str) -> float:
    """Seconds a unit works on scene before it is available again."""
    median = {"kebakaran": 1800.0, "medis": 900.0, "kecelakaan": 1200.0}.get(incident_type, 900.0)
    return rng.lognormvariate(math.log(median), 0.4)


def patrol_speed_mps(rng: random.Random, hour: float) -> float:
    """Speed of a unit moving without hurry: slower when the streets are full."""
    return max(3.0, rng.uniform(8.0, 12.0) * (1.0 - 0.5 * traffic(hour)))


def response_speed_mps(rng: random.Random, hour: float) -> float:
    """Speed of a unit on an emergency run (lights and siren), still slowed by traffic."""
    return max(5.0, rng.uniform(13.0, 17.0) * (1.0 - 0.35 * traffic(hour)))


@dataclass(frozen=True)
class Track:
    """A path along roads (lat, lon points) that a unit drives, measured in metres."""

    points: tuple[tuple[float, float], ...]
    cumulative_m: tuple[float, ...]

    @classmethod
    def through(cls, points: Sequence[tuple[float, float]]) -> Track:
        if not points:
            raise ValueError("a track needs at least one point")
        cumulative = [0.0]
        for a, b in itertools.pairwise(points):
            cumulative.append(cumulative[-1] + metres_between(a, b))
        return cls(tuple(points), tuple(cumulative))

    @property
    def length_m(self) -> float:
        return self.cumulative_m[-1]

    def at(self, distance_m: float) -> tuple[float, float, float]:
        """(lat, lon, bearing in degrees) after `distance_m` along the track (clamped to its ends)."""
        if len(self.points) == 1:
            return (*self.points[0], 0.0)
        d = min(max(distance_m, 0.0), self.length_m)
        i = min(max(bisect_right(self.cumulative_m, d) - 1, 0), len(self.points) - 2)
        a, b = self.points[i], self.points[i + 1]
        span = self.cumulative_m[i + 1] - self.cumulative_m[i]
        t = 0.0 if span <= 0 else (d - self.cumulative_m[i]) / span
        return a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, bearing_deg(a, b)


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres (geopy's; the simulator imports nothing of the centre's code)."""
    return float(great_circle(a, b).meters)


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Initial bearing from a to b, 0 … 360 degrees clockwise from north."""
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlon = math.radians(b[1] - a[1])
    x = math.sin(dlon) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlon)
    return math.degrees(math.atan2(x, y)) % 360


def pidf_lo(lat: float, lon: float, radius_m: float, entity: str) -> str:
    """A PIDF-LO document (RFC 4119/5491) with a circle, as a handset's network sends it."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
        'xmlns:gml="http://www.opengis.net/gml" xmlns:gs="http://www.opengis.net/pidflo/1.0" '
        f'entity="pres:{entity}"><tuple id="loc"><status><gp:geopriv><gp:location-info>'
        '<gs:Circle srsName="urn:ogc:def:crs:EPSG::4326">'
        f"<gml:pos>{lat:.6f} {lon:.6f}</gml:pos>"
        f'<gs:radius uom="urn:ogc:def:uom:EPSG::9001">{radius_m:.0f}</gs:radius></gs:Circle>'
        "</gp:location-info><gp:usage-rules/><gp:method>GPS</gp:method></gp:geopriv></status>"
        "</tuple></presence>"
    )


def pidf_lo_polygon(lat: float, lon: float, size: int, radius_deg: float = 0.0003) -> str:
    """A PIDF-LO of about `size` bytes (never more): a polygon of as many vertices as it takes, on a
    circle around (lat, lon), so its centroid is there. A network's cell-sector polygon, padded to
    show what a big location does to the SIP path."""
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
        'xmlns:gml="http://www.opengis.net/gml" entity="pres:caller@example.com">\n'
        '<tuple id="loc1"><status><gp:geopriv><gp:location-info>\n'
        '<gml:Polygon srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing><gml:posList>\n'
    )
    tail = (
        "\n</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>\n"
        "</gp:location-info><gp:usage-rules/><gp:method>Cell</gp:method></gp:geopriv></status></tuple>\n"
        "</presence>"
    )
    widest = max(len(f"{lat + d:.7f} {lon + d:.7f} ") for d in (-radius_deg, radius_deg))
    vertices = max(8, (size - len(head) - len(tail)) // widest)
    points = []
    for i in range(vertices):
        angle = 2 * math.pi * i / vertices
        points.append(f"{lat + radius_deg * math.sin(angle):.7f} {lon + radius_deg * math.cos(angle):.7f}")
    return head + " ".join(points) + tail


def aml(lat: float, lon: float, radius_m: float, at_utc: str) -> str:
    """An Advanced Mobile Location SMS body (ETSI TS 103 625), `at_utc` as YYYYMMDDhhmmss."""
    return (
        f'A"ML=1;lt={lat:+.5f};lg={lon:+.5f};rd={radius_m:.0f};top={at_utc};lc=90;pm=G;'
        "si=510100000000000;ei=350000000000000;mcc=510;mnc=10"
    )


__all__ = [
    "Story",
    "Track",
    "aml",
    "call_rate_factor",
    "caller",
    "congestion_level",
    "next_call_in_s",
    "on_scene_s",
    "patrol_speed_mps",
    "pidf_lo",
    "pidf_lo_polygon",
    "response_speed_mps",
    "story",
    "traffic",
    "turnout_s",
]
