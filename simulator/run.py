"""The living city: callers, vehicles, cameras and crews, driving a running centre.

Everything goes in through the centre's real interfaces (`simulator.centre`). People at the
consoles stay in charge: the simulated call-taker and dispatcher only take a call or an
incident that nobody has taken within `grace_s`, so a demo shows a city that works by itself
and a trainee can step in at any moment.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from simulator import city
from simulator.centre import Caller, Centre, CentreError

log = logging.getLogger(__name__)

WITA = timedelta(hours=8)


@dataclass
class Options:
    rate_per_min: float = 1.0  # calls a minute at the day's mean (the hour's pattern on top)
    duration_s: float | None = None  # None: until stopped
    grace_s: float = 20.0  # the simulated call-taker/dispatcher take what nobody took in this time
    daily_pattern: bool = True
    hold_s: float = 30.0  # how long a voice caller stays on the line
    gps_every_s: float = 5.0  # a moving unit's reporting interval (parked: every 30 s)
    camera_every_s: float = 60.0
    speed: float = 1.0  # crew timings (turnout, time on scene) are divided by this
    sms_share: float = 0.15
    seed: int = 112
    report_every_s: float = 30.0
    # Called every heartbeat_every_s while the city runs (`warroom simulate` renews its lease on the
    # units' tokens there); False: another simulator has them now, so this one stops.
    heartbeat: Callable[[], bool] | None = None
    heartbeat_every_s: float = 10.0


@dataclass
class Stats:
    """What the run did and how fast the centre answered (seconds)."""

    calls_placed: int = 0
    calls_answered_sip: int = 0  # sipp got its 200 OK and hung up cleanly
    calls_failed_sip: int = 0
    texts_sent: int = 0
    texts_refused: int = 0
    calls_seen: int = 0
    incidents_created: int = 0
    dispatches: int = 0
    fixes_sent: int = 0
    fixes_refused: int = 0
    congestion_reports: int = 0
    errors: int = 0
    visible_s: list[float] = field(default_factory=list)  # INVITE/SMS sent → the call on the event stream
    recommend_s: list[float] = field(default_factory=list)  # incident created → first recommendation
    placed: dict[str, float] = field(default_factory=dict)  # phone → when the call was placed (monotonic)
    our_incidents: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"calls {self.calls_placed} placed ({self.calls_answered_sip} SIP answered, {self.calls_failed_sip} SIP "
            f"failed, {self.texts_sent} SMS), {self.calls_seen} seen by the centre; "
            f"{self.incidents_created} incidents, {self.dispatches} dispatched; GPS {self.fixes_sent} fixes "
            f"({self.fixes_refused} refused); {self.congestion_reports} camera reports; {self.errors} errors"
        )


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


class City:
    def __init__(self, centre: Centre, caller: Caller, options: Options) -> None:
        self.centre, self.caller, self.options = centre, caller, options
        self.rng = random.Random(options.seed)
        self.stats = Stats()
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="sim")
        self._agenda: list[tuple[float, int, Callable[[], None]]] = []
        self._serial = itertools.count()
        self._lock = threading.Lock()
        self.vehicles: dict[int, Vehicle] = {}
        self.places: list[tuple[float, float]] = []
        self.stories: dict[str, tuple[city.Story, tuple[float, float]]] = {}
        self.cameras: dict[str, tuple[float, str | None, float]] = {}  # code → bias, last level, last sent
        self.dispatched: set[int] = set()  # incidents the simulated dispatcher sent units to
        self.unplaced: dict[int, float] = {}  # incidents without a location (when last tried): wait for one
        self._beaten = time.monotonic()

    # --- the agenda ------------------------------------------------------------------

    def at(self, delay_s: float, action: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._agenda, (time.monotonic() + delay_s, next(self._serial), action))

    def _run_due(self) -> None:
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._agenda or self._agenda[0][0] > now:
                    return
                _, _, action = heapq.heappop(self._agenda)
            self.pool.submit(self._guarded, action)

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except (CentreError, requests.RequestException) as error:
            self.stats.errors += 1
            log.warning("simulator: %s", error)

    # --- start and the main loop -------------------------------------------------------

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

    def _report(self) -> None:
        log.info("simulator: %s", self.stats.summary())
        self.at(self.options.report_every_s, self._report)

    @staticmethod
    def hour() -> float:
        now = datetime.now(UTC) + WITA
        return now.hour + now.minute / 60

    # --- callers -----------------------------------------------------------------------

    def _next_call(self) -> None:
        o = self.options
        hour = self.hour() if o.daily_pattern else 12.0
        factor = 1.0 if o.daily_pattern else 1.0 / city.call_rate_factor(12.0)
        self.at(city.next_call_in_s(o.rate_per_min * factor, hour, self.rng), self._next_call)
        self._place_call()

    def _place_call(self) -> None:
        story = city.story(self.rng, self.options.sms_share)
        name, phone = city.caller(self.rng)
        lat, lon = self.rng.choice(self.places)
        lat, lon = lat + self.rng.uniform(-2e-4, 2e-4), lon + self.rng.uniform(-2e-4, 2e-4)
        self.stories[phone] = (story, (lat, lon))
        self.stats.placed[phone] = time.monotonic()
        self.stats.calls_placed += 1
        if story.sms and self.centre.texts:
            self.pool.submit(self._guarded, lambda: self._text(phone, story, lat, lon))
        elif self.caller.ready:
            pidf = city.pidf_lo(lat, lon, self.rng.uniform(8, 60), f"{phone}@caller.example")
            self.caller.call(phone, name, pidf, self.options.hold_s, self._call_done)
        else:
            location = {"lat": lat, "lon": lon, "accuracy_m": 50, "source": "manual"}
            self.centre.api("POST", "/calls", body={"phone": phone, "name": name, "location": location})

    def _call_done(self, code: int) -> None:
        if code == 0:
            self.stats.calls_answered_sip += 1
        else:
            self.stats.calls_failed_sip += 1

    def _text(self, phone: str, story: city.Story, lat: float, lon: float) -> None:
        ok = self.centre.sms(phone, story.description) < 400
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        ok = self.centre.sms(phone, city.aml(lat, lon, 15, stamp)) < 400 and ok
        if ok:
            self.stats.texts_sent += 1
        else:
            self.stats.texts_refused += 1

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

    # --- the simulated call-taker and dispatcher --------------------------------------

    def _take_calls(self) -> None:
        self.at(2.0, self._take_calls)
        for call in self.centre.api("GET", "/calls", limit=200):
            self._take(call)

    def _take(self, call: dict[str, Any]) -> None:
        """The simulated call-taker: a call of ours nobody took within the grace time becomes an incident
        (a caller who already hung up is called back: the incident is made all the same)."""
        placed = self.stats.placed.get(call["phone"] or "")
        if call["incident_id"] is not None or placed is None or time.monotonic() - placed < self.options.grace_s:
            return
        with self._lock:
            taken = self.stories.pop(call["phone"], None)
        if taken is None:
            return
        story, (lat, lon) = taken
        if call["state"] == "ringing":
            try:
                self.centre.api("POST", f"/calls/{call['id']}/answer")
            except CentreError as error:  # hung up meanwhile
                if "illegal_transition" not in str(error):
                    raise
        body: dict[str, Any] = {
            "type": story.incident_type,
            "priority": story.priority,
            "description": story.description,
            "call_id": call["id"],
        }
        if not call.get("location"):
            body["location"] = {"lat": lat, "lon": lon, "accuracy_m": 50, "source": "manual"}
        created = time.monotonic()
        try:
            incident = self.centre.api("POST", "/incidents", body=body)
        except CentreError:
            with self._lock:
                self.stories[call["phone"]] = taken  # try again next round
            raise
        self.stats.incidents_created += 1
        self.stats.our_incidents.append(incident["id"])
        self._dispatch(incident["id"], created)

    def _take_incidents(self) -> None:
        self.at(3.0, self._take_incidents)
        now = datetime.now(UTC)
        for incident in self.centre.api("GET", "/incidents", status="open"):
            assignments = incident["assignments"]
            if not assignments and time.monotonic() - self.unplaced.get(incident["id"], -1e9) > 15:
                created = datetime.fromisoformat(incident["created_at"].replace("Z", "+00:00"))
                if (now - created).total_seconds() >= self.options.grace_s:
                    self._dispatch(incident["id"], None)
            elif incident["id"] in self.dispatched and not any(a["active"] for a in assignments):
                # its own jobs only: an incident a dispatcher at a console runs is theirs to close
                self.centre.api(
                    "POST",
                    f"/incidents/{incident['id']}/status",
                    body={"status": "closed", "disposition": "selesai_ditangani"},
                )
                self.dispatched.discard(incident["id"])

    def _dispatch(self, incident_id: int, created: float | None) -> None:
        try:
            offer = self.centre.api("GET", f"/incidents/{incident_id}/recommendations")
        except CentreError as error:
            if "no location" not in str(error):
                raise
            self.unplaced[incident_id] = time.monotonic()
            log.info("simulator: incident %s has no location yet; leaving it to the consoles", incident_id)
            return
        if created is not None:
            self.stats.recommend_s.append(time.monotonic() - created)
        units = [u for slot in offer["run_card"]["slots"] for u in slot["proposed"]]
        if not units and offer["recommendations"]:
            units = [offer["recommendations"][0]["unit_id"]]
        if units:
            try:
                self.centre.api("POST", f"/incidents/{incident_id}/dispatch", body={"unit_ids": units})
                self.stats.dispatches += 1
                self.dispatched.add(incident_id)
            except CentreError as error:  # someone at a console was quicker, or a unit just left
                log.info("simulator: dispatch of %s not taken: %s", incident_id, error)

    # --- crews ------------------------------------------------------------------------

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

    # --- vehicles and cameras ----------------------------------------------------------

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


def nearest_rank(sorted_values: Sequence[float], percent: int) -> float:
    """The `percent`-th percentile of ascending values by nearest rank (the value at rank ⌈p·N/100⌉),
    the centre's reports' rule (README "Reports"). The simulator imports nothing of the centre, so
    this is its own copy; tests/unit/test_percentiles.py holds it equal to `reports.stats.nearest_rank`."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0 < percent <= 100:
        raise ValueError(f"percent out of range: {percent}")
    return sorted_values[-(-percent * len(sorted_values) // 100) - 1]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds, nearest-rank; (nan, nan) when there are no samples."""
    if not samples:
        return float("nan"), float("nan")
    ordered = sorted(samples)
    return nearest_rank(ordered, 50) * 1e3, nearest_rank(ordered, 95) * 1e3


def simulate(centre: Centre, options: Options, *, stop: threading.Event | None = None) -> Stats:
    """Run the city until `options.duration_s` has passed or `stop` is set."""
    world = City(centre, Caller(centre.access.sip_target), options)
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), world.stop.set()), daemon=True).start()
    return world.run()
