"""A local, append-only journal: what the SIP agent saw is on disk before anyone else hears of it.

Entries are JSON lines, fsync'd on append. Delivery to the centre is acknowledged by
appending the entry's id to a second file; whatever is in the first file and not the
second is replayed after a restart or while the centre is down. Stdlib only.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ENTRIES = "journal.jsonl"
DELIVERED = "delivered.txt"
DEAD = "refused.jsonl"
REDELIVERED = "redelivered.txt"
#: The entry an agent writes when the centre refused one of its entries: the consoles show it.
SET_ASIDE = "set_aside"


@dataclass(frozen=True)
class Entry:
    id: str
    seq: int
    kind: str
    at: datetime
    payload: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "seq": self.seq, "kind": self.kind, "at": self.at.isoformat(), "payload": self.payload},
            ensure_ascii=False,
            separators=(",", ":"),
        )


class Journal:
    """Thread-safe; one journal per agent process (each worker has its own folder)."""

    def __init__(self, folder: Path | str, *, fsync: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._lock = threading.Lock()
        self._delivered = set(self._read_delivered())
        self._pending: dict[str, Entry] = {}
        self._seq = 0
        self._unfinished: dict[str, None] = {}
        for entry in self._read_entries():
            self._seq = max(self._seq, entry.seq)
            if entry.id not in self._delivered:
                self._pending[entry.id] = entry
            call_id = str(entry.payload.get("sip_call_id") or "")
            if entry.kind == "invite" and call_id:
                self._unfinished[call_id] = None
            elif entry.kind == "end":
                self._unfinished.pop(call_id, None)
        self._entries = open(self.folder / ENTRIES, "a", encoding="utf-8")  # noqa: SIM115
        self._acks = open(self.folder / DELIVERED, "a", encoding="utf-8")  # noqa: SIM115

    def append(self, kind: str, payload: dict[str, Any], at: datetime | None = None) -> Entry:
        with self._lock:
            self._seq += 1
            entry = Entry(uuid.uuid4().hex, self._seq, kind, at or datetime.now(UTC), payload)
            self._write(self._entries, entry.to_json())
            self._pending[entry.id] = entry
            return entry

    def mark_delivered(self, entry_id: str) -> None:
        with self._lock:
            if self._pending.pop(entry_id, None) is not None:
                self._write(self._acks, entry_id)

    def refuse(self, entry: Entry, reason: str) -> None:
        """The centre answered 4xx: keep the entry aside with the reason, stop retrying it."""
        with self._lock, open(self.folder / DEAD, "a", encoding="utf-8") as dead:
            self._write(dead, json.dumps({"reason": reason, "entry": json.loads(entry.to_json())}))
            if self._pending.pop(entry.id, None) is not None:
                self._write(self._acks, entry.id)

    def refused(self) -> list[tuple[Entry, str]]:
        """Entries the centre refused and nobody has re-delivered yet, oldest first, with the reason."""
        done = set(_lines(self.folder / REDELIVERED))
        found: dict[str, tuple[Entry, str]] = {}
        for line in _lines(self.folder / DEAD):
            try:
                raw = json.loads(line)
                entry = _entry(raw["entry"])
            except (ValueError, KeyError, TypeError):
                continue
            if entry.id not in done and entry.kind != SET_ASIDE:
                found[entry.id] = (entry, str(raw.get("reason", "")))
        return sorted(found.values(), key=lambda pair: pair[0].seq)

    def entries_of_call(self, sip_call_id: str) -> list[Entry]:
        """Every entry this journal holds about one call, in order (for re-delivering it whole)."""
        return [e for e in self._read_entries() if e.payload.get("sip_call_id") == sip_call_id]

    def mark_redelivered(self, entry_id: str) -> None:
        with self._lock, open(self.folder / REDELIVERED, "a", encoding="utf-8") as done:
            self._write(done, entry_id)

    def unfinished_calls(self) -> list[str]:
        """SIP Call-IDs of calls an earlier run took and never saw end (it died holding them)."""
        return list(self._unfinished)

    def pending(self) -> list[Entry]:
        """Undelivered entries, oldest first."""
        with self._lock:
            return sorted(self._pending.values(), key=lambda e: e.seq)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._entries.close()
            self._acks.close()

    def _write(self, handle: Any, line: str) -> None:
        handle.write(line + "\n")
        handle.flush()
        if self._fsync:
            os.fsync(handle.fileno())

    def _read_entries(self) -> Iterator[Entry]:
        path = self.folder / ENTRIES
        if not path.exists():
            return
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    yield _entry(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash mid-write: it was never acknowledged to anyone

    def _read_delivered(self) -> Iterator[str]:
        return _lines(self.folder / DELIVERED)


def _entry(raw: Any) -> Entry:
    return Entry(str(raw["id"]), int(raw["seq"]), str(raw["kind"]), datetime.fromisoformat(raw["at"]), raw["payload"])


def _lines(path: Path) -> Iterator[str]:
    if path.exists():
        with open(path, encoding="utf-8") as handle:
            yield from (line.strip() for line in handle if line.strip())
