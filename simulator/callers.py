"""The callers: 112 calls at the hour's rate (`simulator.city`), by SIP (sipp), SMS or the calls API."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from functools import partial

from simulator import city
from simulator.centre import TURNED_AWAY
from simulator.world import World

log = logging.getLogger(__name__)


class Callers(World):
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
            self.caller.call(phone, name, pidf, self.options.hold_s, partial(self._call_done, phone))
        else:
            location = {"lat": lat, "lon": lon, "accuracy_m": 50, "source": "manual"}
            self.centre.api("POST", "/calls", body={"phone": phone, "name": name, "location": location})

    def _call_done(self, phone: str, code: int, why: str) -> None:
        if code == 0:
            self.stats.calls_answered_sip += 1
        elif code == TURNED_AWAY:
            self.stats.calls_turned_away_sip += 1
        else:
            self.stats.calls_failed_sip += 1
            self.stats.sip_failures.append(f"{phone}: {why}")
            log.warning("simulator: the SIP call from %s failed: %s", phone, why)

    def _text(self, phone: str, story: city.Story, lat: float, lon: float) -> None:
        ok = self.centre.sms(phone, story.description) < 400
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        ok = self.centre.sms(phone, city.aml(lat, lon, 15, stamp)) < 400 and ok
        if ok:
            self.stats.texts_sent += 1
        else:
            self.stats.texts_refused += 1
