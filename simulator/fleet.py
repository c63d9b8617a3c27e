"""The fleet's GPS and the cameras: vehicles move along their tracks (routes the centre gives) and
report fixes; the cameras report the congestion of the hour."""

from __future__ import annotations

import time

from simulator import city
from simulator.centre import CentreError
from simulator.vehicles import Vehicle
from simulator.world import World


class Fleet(World):
    def _road_between(self, a: tuple[float, float], b: tuple[float, float], profile: str) -> city.Track:
        ends = {"from": f"{a[0]:.6f},{a[1]:.6f}", "to": f"{b[0]:.6f},{b[1]:.6f}", "profile": profile}
        try:
            route = self.centre.api("GET", "/route", **ends)
        except CentreError as error:  # no road between them (a one-way maze, an island): cross it as the crow flies
            if "no_route" not in str(error):
                raise
            return city.Track.through([a, b])
        coordinates = route["geometry"].get("coordinates") or []
        return city.Track.through([(lat, lon) for lon, lat in coordinates] or [a, b])

    def _move(self) -> None:
        now = time.monotonic()
        for vehicle in self.vehicles.values():
            if now < vehicle.next_fix:
                continue
            speed, bearing = 0.0, 0.0
            if vehicle.motion is not None:
                vehicle.lat, vehicle.lon, bearing, arrived = vehicle.motion.where(now)
                speed = 0.0 if arrived else vehicle.motion.speed_mps
                if arrived:
                    vehicle.motion = None
            moving = vehicle.motion is not None
            vehicle.next_fix = now + (self.options.gps_every_s if moving or vehicle.job else 30.0)
            self.pool.submit(self._guarded, lambda v=vehicle, s=speed, b=bearing: self._fix(v, s, b))

    def _fix(self, vehicle: Vehicle, speed: float, bearing: float) -> None:
        status = self.centre.gps(vehicle.id, vehicle.lat, vehicle.lon, time.time(), speed, bearing)
        if status == 200:
            self.stats.fixes_sent += 1
        else:
            self.stats.fixes_refused += 1

    def _cameras(self) -> None:
        self.at(self.options.camera_every_s, self._cameras)
        hour = self.hour()
        for code, (bias, last, sent) in list(self.cameras.items()):
            level = city.congestion_level(hour, bias, self.rng.random())
            if level != last or time.monotonic() - sent > 300:
                self.centre.api("POST", f"/cameras/{code}/congestion", body={"level": level})
                self.cameras[code] = (bias, level, time.monotonic())
                self.stats.congestion_reports += 1
