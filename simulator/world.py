"""The simulated city's shared state and its agenda: what happens when, run on a thread pool.

The actors (`simulator.callers`, `simulator.desk`, `simulator.crews`, `simulator.fleet`) are parts
of one `simulator.run.City` and share this state; `Options` says how the city behaves.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

from simulator import city
from simulator.centre import Caller, Centre, CentreError
from simulator.report import Stats
from simulator.vehicles import Vehicle

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


class World:
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

    @staticmethod
    def hour() -> float:
        now = datetime.now(UTC) + WITA
        return now.hour + now.minute / 60
