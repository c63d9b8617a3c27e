"""What Kamailio logs whole, put on record: the calls it turns away because every agent of the
pool is full (302 to the overflow centre, or 503 when none is set), and the INVITEs too big for
pjsua2 (or whose body is not plain SDP: a PIDF-LO location), of which the agent gets only the
SDP offer. Each is read from Kamailio's log, screened like any INVITE (number, name, PIDF-LO),
journalled and carried to the centre: a turned-away call as `overflowed`, a big one as an
`invite` with `queued` (the centre merges it with the agent's own report of the call, in either
order, and keeps the location). No call that reached the centre goes unrecorded.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from telephony.courier import Courier
from telephony.journal import Journal
from telephony.screening import Network, screen_invite

log = logging.getLogger(__name__)

#: What kamailio.cfg (route LOG_WHOLE) writes, a line per slice of the INVITE as received:
#: `<marker> <key> <offset> <total length> <source address> <base64 of the slice>`.
POOL_FULL = "WARROOM-POOL-FULL"
WHOLE_INVITE = "WARROOM-WHOLE-INVITE"
MARKERS = (POOL_FULL, WHOLE_INVITE)
#: Messages being put back together at once, at most (a slice lost to a dying process is forgotten).
MAX_PARTIAL = 1000


@dataclass(frozen=True)
class LoggedInvite:
    marker: str
    source: str
    raw: bytes


class Reassembly:
    """Puts the slices of each logged INVITE back together; the lines of several may interleave."""

    def __init__(self) -> None:
        self._partial: dict[str, tuple[str, str, int, bytearray]] = {}

    def feed(self, line: str) -> LoggedInvite | None:
        """The INVITE this line completes, or None."""
        marker = next((m for m in MARKERS if f"{m} " in line), None)
        if marker is None:
            return None
        fields = line[line.find(f"{marker} ") + len(marker) + 1 :].strip().split(" ")
        try:
            key, offset, total, source, encoded = fields
            at, size = int(offset), int(total)
            piece = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            log.error("unreadable %s line in Kamailio's log: %r", marker, line[:200])
            return None
        _, _, _, data = self._partial.setdefault(key, (marker, source, size, bytearray()))
        if at != len(data):
            log.error("%s %s: slice at %d, expected %d: dropped", marker, key, at, len(data))
            self._partial.pop(key, None)
            return None
        data += piece
        if len(data) < size:
            while len(self._partial) > MAX_PARTIAL:
                self._partial.pop(next(iter(self._partial)))
            return None
        self._partial.pop(key, None)
        return LoggedInvite(marker, source, bytes(data[:size]))


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
        self._reassembly = Reassembly()
        self.journal = Journal(journal_dir)
        self.courier = Courier(self.journal, f"{centre_url.rstrip('/')}/telephony/sip/events", token)
        self.courier.start()
        self.recorded = 0

    def poll(self, now: datetime | None = None) -> int:
        """Journal the calls logged since the last look; how many."""
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
        turned_away = whole = 0
        for line in lines:
            invite = self._reassembly.feed(line.decode("utf-8", "replace"))
            if invite is None:
                continue
            screened = screen_invite(invite.raw, invite.source, self.networks, now or datetime.now(UTC))
            if screened.status != 200 or not screened.payload.get("sip_call_id"):
                continue  # not a 112 call the agents would have taken (refused source, not to 112)
            if invite.marker == POOL_FULL:
                self.journal.append("overflow", {**screened.payload, "target": self.target}, now)
                turned_away += 1
            else:
                self.journal.append("invite", {**screened.payload, "queued": True}, now)
                whole += 1
        if turned_away or whole:
            self.recorded += turned_away + whole
            self.courier.notify()
        if turned_away:
            log.warning("%d call(s) turned away with every agent full: on record as overflowed", turned_away)
        if whole:
            log.info("%d INVITE(s) too big for an agent recorded whole, with their location", whole)
        return turned_away + whole

    def close(self) -> None:
        self.courier.stop()
        self.journal.close()
