"""The living city: callers, vehicles, cameras and crews, driving a running centre.

Everything goes in through the centre's real interfaces (`simulator.centre`). People at the
consoles stay in charge: the simulated call-taker and dispatcher only take a call or an
incident that nobody has taken within `grace_s`, so a demo shows a city that works by itself
and a trainee can step in at any moment.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

import requests

from simulator.callers import Callers
from simulator.centre import Caller, Centre
from simulator.crews import Crews
from simulator.desk import Desk
from simulator.report import Stats, percentiles
from simulator.vehicles import Vehicle
from simulator.world import Options

log = logging.getLogger(__name__)

__all__ = ["City", "Options", "Stats", "percentiles", "simulate"]


class City(Callers, Desk, Crews):
    """The callers, the simulated desk and the crews with their fleet, on one agenda; the centre's
    event stream tells them what happened (a call shows, a unit is assigned)."""

    def _beat(self) -> None:
        """Renew the lease in the loop that drives the vehicles: a stalled simulator loses it."""
        o = self.options
        if o.heartbeat is None or time.monotonic() - self._beaten < o.heartbeat_every_s:
            return
        self._beaten = time.monotonic()
        if not o.heartbeat():
            log.warning("simulator: another simulator took over the units' GPS tokens; stopping")
            self.stop.set()

    def load(self, wait_s: float = 60.0) -> None:
        deadline = time.monotonic() + wait_s
        while True:  # started beside the centre, it may be up a moment later
            try:
                units = self.centre.api("GET", "/units")
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                self._beat()
                time.sleep(0.5)
        for unit in units:
            station = unit.get("station") or {}
            home = (station["lat"], station["lon"]) if station.get("lat") is not None else None
            pos = unit.get("position") or {}
            lat, lon = (pos["lat"], pos["lon"]) if pos.get("lat") is not None else (home or (None, None))
            if unit["id"] in self.centre.access.devices and lat is not None and lon is not None:
                self.vehicles[unit["id"]] = Vehicle(unit["id"], unit["callsign"], unit["type"], home, lat, lon)
        homes = sorted({v.station for v in self.vehicles.values() if v.station})
        for a, b in itertools.islice(((a, b) for a in homes for b in homes if a < b), 0, None, 3):
            track = self._road_between(a, b, "ambulance")
            if len(track.points) > 2:
                self.places.extend(track.points)
            if len(self.places) > 3000:
                break
        if not self.places:
            self.places = [(v.lat, v.lon) for v in self.vehicles.values()]
        for camera in self.centre.api("GET", "/cameras"):
            self.cameras[camera["code"]] = (self.rng.uniform(-1, 1), camera.get("level"), 0.0)

    def run(self) -> Stats:
        self.load()
        o = self.options
        log.info(
            "simulator: %d vehicles, %d cameras, %d road points; calls by %s, texts %s",
            len(self.vehicles), len(self.cameras), len(self.places),
            "SIP (sipp)" if self.caller.ready else "the calls API (no sipp or no SIP port)",
            "on" if self.centre.texts else "off (TWILIO_AUTH_TOKEN unset)",
        )  # fmt: skip
        listener = threading.Thread(target=self._listen, name="sim-events", daemon=True)
        listener.start()
        time.sleep(0.5)  # the stream is open before the first call
        started = time.monotonic()
        self.at(0.1, self._next_call)
        self.at(1.0, self._cameras)
        self.at(2.0, self._take_calls)
        self.at(3.0, self._take_incidents)
        self.at(o.report_every_s, self._report)
        try:
            while not self.stop.is_set():
                if o.duration_s is not None and time.monotonic() - started >= o.duration_s:
                    break
                self._beat()
                if self.stop.is_set():
                    break
                self._run_due()
                self._move()
                self.caller.reap()
                self.stop.wait(0.2)
        finally:
            self.stop.set()
            self.caller.close(self.options.hold_s + 15)
            self.pool.shutdown(wait=True, cancel_futures=True)
        return self.stats

    def _listen(self) -> None:
        for kind, data in self.centre.events(self.stop):
            if kind == "call" and data.get("phone"):
                placed = self.stats.placed.get(data["phone"])
                if placed is not None:
                    self.stats.calls_seen += 1
                    self.stats.visible_s.append(time.monotonic() - placed)
                    if self.options.grace_s <= 0:  # nobody to wait for: the call-taker takes it now
                        self.at(0.0, lambda call_id=data["id"]: self._take(self.centre.api("GET", f"/calls/{call_id}")))
            elif kind == "unit" and data.get("status") == "assigned" and data.get("id") in self.vehicles:
                self.at(0.0, lambda unit_id=data["id"]: self._assigned(unit_id))

    def _report(self) -> None:
        log.info("simulator: %s", self.stats.summary())
        self.at(self.options.report_every_s, self._report)


def simulate(centre: Centre, options: Options, *, stop: threading.Event | None = None) -> Stats:
    """Run the city until `options.duration_s` has passed or `stop` is set."""
    world = City(centre, Caller(centre.access.sip_target), options)
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), world.stop.set()), daemon=True).start()
    return world.run()
