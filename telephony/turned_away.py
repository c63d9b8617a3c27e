"""Calls Kamailio answers itself because every agent of the pool is full (302 to the overflow
centre, or 503 when none is set): read from Kamailio's log, screened like any INVITE (number,
name, PIDF-LO), journalled and carried to the centre as `overflowed`, so the call-taker
console shows them and someone can call back. No call that reached the centre goes unrecorded.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from telephony.courier import Courier
from telephony.journal import Journal
from telephony.screening import Network, screen_invite

log = logging.getLogger(__name__)

#: What kamailio.cfg writes for such a call: the marker, the source address, the whole INVITE in base64.
MARKER = "WARROOM-POOL-FULL "


def turned_away_invite(line: str) -> tuple[str, bytes] | None:
    """(source address, the INVITE as received) from one line of Kamailio's log, or None."""
    at = line.find(MARKER)
    if at < 0:
        return None
    source, _, encoded = line[at + len(MARKER) :].strip().partition(" ")
    try:
        return source, base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        log.error("unreadable pool-full line in Kamailio's log: %r", line[:200])
        return None


class TurnedAway:
    """Follows Kamailio's log from where it is now; `poll()` records what appeared since."""

    def __init__(
        self,
        log_path: Path,
        journal_dir: Path,
        centre_url: str,
        token: str,
        networks: Sequence[Network],
        target: str,
    ) -> None:
        self.log_path = log_path
        self.networks = tuple(networks)
        self.target = target
        self._offset = log_path.stat().st_size if log_path.exists() else 0
        self._partial = b""
        self.journal = Journal(journal_dir)
        self.courier = Courier(self.journal, f"{centre_url.rstrip('/')}/telephony/sip/events", token)
        self.courier.start()
        self.recorded = 0

    def poll(self, now: datetime | None = None) -> int:
        """Journal the calls turned away since the last look; how many."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return 0
        if not chunk:
            return 0
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        found = 0
        for line in lines:
            invite = turned_away_invite(line.decode("utf-8", "replace"))
            if invite is None:
                continue
            screened = screen_invite(invite[1], invite[0], self.networks, now or datetime.now(UTC))
            if screened.status != 200 or not screened.payload.get("sip_call_id"):
                continue  # not a 112 call the agents would have taken (refused source, not to 112)
            self.journal.append("overflow", {**screened.payload, "target": self.target}, now)
            found += 1
        if found:
            self.recorded += found
            self.courier.notify()
            log.warning("%d call(s) turned away with every agent full: on record as overflowed", found)
        return found

    def close(self) -> None:
        self.courier.stop()
        self.journal.close()
