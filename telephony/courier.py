"""Carries journal entries to the centre, in order, until each is acknowledged.

The centre answers 2xx (stored), 4xx (refused: kept aside in the journal, and reported to the
centre as a `set_aside` entry that the consoles show as an alert until `warroom sip redeliver`
delivers it), or 5xx / no answer (database or centre down: retried with backoff, nothing dropped). A 500, the
centre failing on one entry, is retried `max_faults` times and then set aside like a refusal, so
one entry the centre cannot take never holds back the calls behind it.
"""

from __future__ import annotations

import json
import logging
import threading

import requests

from telephony.journal import SET_ASIDE, Entry, Journal

log = logging.getLogger(__name__)


class Courier(threading.Thread):
    def __init__(
        self,
        journal: Journal,
        url: str,
        token: str,
        *,
        timeout_s: float = 5.0,
        max_backoff_s: float = 5.0,
        max_faults: int = 5,
    ) -> None:
        super().__init__(name="journal-courier", daemon=True)
        self.journal = journal
        self.url = url
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout_s = timeout_s
        self._max_backoff_s = max_backoff_s
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._http = requests.Session()
        self.delivered = 0
        self.failures = 0
        self.max_faults = max_faults
        self._faults: dict[str, int] = {}

    def notify(self) -> None:
        """Something new is in the journal."""
        self._wake.set()

    def stop(self, drain_s: float = 2.0) -> None:
        self._halt.set()
        self._wake.set()
        self.join(drain_s)

    def run(self) -> None:
        backoff = 0.05
        while True:
            self._wake.clear()
            ok = all(self._deliver(entry) for entry in self.journal.pending())
            if ok:
                backoff = 0.05
                if self._halt.is_set():
                    return
                self._wake.wait(1.0)
            else:
                if self._halt.is_set():
                    return
                self._wake.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    def _deliver(self, entry: Entry) -> bool:
        body = {"id": entry.id, "kind": entry.kind, "at": entry.at.isoformat(), **entry.payload}
        try:
            response = self._http.post(self.url, json=body, headers=self._headers, timeout=self._timeout_s)
        except requests.RequestException as error:
            self._failed(entry, f"centre unreachable: {error.__class__.__name__}")
            return False
        if response.status_code < 300:
            self.journal.mark_delivered(entry.id)
            self.delivered += 1
            return True
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            self._set_aside(entry, f"{response.status_code} {response.text[:300]}")
            return True
        if response.status_code == 500:
            # a fault of the centre with this one entry (the database being down is a 503): retried a
            # few times, then set aside with an alert, so it cannot hold back every later call
            self._faults[entry.id] = self._faults.get(entry.id, 0) + 1
            if self._faults[entry.id] >= self.max_faults:
                del self._faults[entry.id]
                self._set_aside(entry, f"500 after {self.max_faults} tries: {response.text[:300]}")
                return True
        self._failed(entry, f"centre answered {response.status_code}")
        return False

    def _set_aside(self, entry: Entry, reason: str) -> None:
        log.error("centre refused journal entry %s (%s): %s", entry.id, entry.kind, reason)
        self.journal.refuse(entry, reason)
        if entry.kind != SET_ASIDE:  # the consoles hear of it: an alert until it is re-delivered
            self.journal.append(SET_ASIDE, {"entry": json.loads(entry.to_json()), "reason_text": reason})
            self._wake.set()

    def _failed(self, entry: Entry, why: str) -> None:
        self.failures += 1
        if self.failures == 1 or self.failures % 50 == 0:
            log.warning("journal entry %s (%s) not delivered yet: %s; kept and retried", entry.id, entry.kind, why)
