"""A simulated vehicle: where it is, where it drives and the job its crew works."""

from __future__ import annotations

from dataclasses import dataclass

from simulator import city


@dataclass
class Motion:
    track: city.Track
    started: float
    speed_mps: float

    def where(self, now: float) -> tuple[float, float, float, bool]:
        travelled = (now - self.started) * self.speed_mps
        lat, lon, bearing = self.track.at(travelled)
        return lat, lon, bearing, travelled >= self.track.length_m


@dataclass
class Vehicle:
    id: int
    callsign: str
    type: str
    station: tuple[float, float] | None
    lat: float
    lon: float
    motion: Motion | None = None
    next_fix: float = 0.0
    job: int | None = None  # the incident the crew is working
    job_place: tuple[float, float] | None = None
    job_type: str = "lainnya"
