"""The crews: each opens its job with its own token, acknowledges, turns out, drives there, works on
scene and drives home, at the pace `Options.speed` sets."""

from __future__ import annotations

import time

from simulator import city
from simulator.fleet import Fleet
from simulator.vehicles import Motion


class Crews(Fleet):
    def _assigned(self, unit_id: int) -> None:
        """The crew opens its job (its own page's API, with its own token) and sets off in time."""
        job = self.centre.api("GET", "/crew/job", token=self.centre.access.crews.get(unit_id))
        incident = job.get("incident")
        place = (incident or {}).get("location") or {}
        if incident is None or place.get("lat") is None:
            return
        vehicle = self.vehicles[unit_id]
        vehicle.job, vehicle.job_place = incident["id"], (place["lat"], place["lon"])
        vehicle.job_type = incident["type"]
        speed = self.options.speed
        self.at(self.rng.uniform(4, 12) / speed, lambda: self._crew(unit_id, "acknowledged"))
        turnout = city.turnout_s(self.rng, incident["priority"]) / speed
        self.at(turnout, lambda: self._roll(unit_id, incident["id"]))

    def _crew(self, unit_id: int, status: str) -> None:
        token = self.centre.access.crews.get(unit_id)
        self.centre.api("POST", f"/units/{unit_id}/status", token=token, body={"status": status})

    def _roll(self, unit_id: int, incident_id: int) -> None:
        vehicle = self.vehicles[unit_id]
        if vehicle.job != incident_id or vehicle.job_place is None:
            return
        self._crew(unit_id, "en_route")
        track = self._road_between((vehicle.lat, vehicle.lon), vehicle.job_place, vehicle.type)
        vehicle.motion = Motion(track, time.monotonic(), city.response_speed_mps(self.rng, self.hour()))
        vehicle.next_fix = 0.0
        arrive_s = track.length_m / vehicle.motion.speed_mps
        self.at(arrive_s + 40.0, lambda: self._on_scene_if_needed(unit_id, incident_id))

    def _on_scene_if_needed(self, unit_id: int, incident_id: int) -> None:
        vehicle = self.vehicles[unit_id]
        if vehicle.job != incident_id:
            return
        unit = self.centre.api("GET", f"/units/{unit_id}", token=self.centre.access.crews.get(unit_id))
        if unit["status"] == "en_route":  # the geofence did not see it arrive: the crew presses the button
            self._crew(unit_id, "on_scene")
        work_s = city.on_scene_s(self.rng, vehicle.job_type) / self.options.speed
        self.at(work_s, lambda: self._clear(unit_id, incident_id))

    def _clear(self, unit_id: int, incident_id: int) -> None:
        vehicle = self.vehicles[unit_id]
        if vehicle.job != incident_id:
            return
        self._crew(unit_id, "available")
        vehicle.job = vehicle.job_place = None
        if vehicle.station:
            track = self._road_between((vehicle.lat, vehicle.lon), vehicle.station, vehicle.type)
            vehicle.motion = Motion(track, time.monotonic(), city.patrol_speed_mps(self.rng, self.hour()))
