"""`warroom sip redeliver`: send the journal entries the centre refused once more.

An entry the centre refused (4xx) stays in its journal's `refused.jsonl`, and the consoles show an
alert for it. Once the cause is fixed (a centre upgraded, a setting corrected), this sends each
refused entry again, a call's later entries (its end) after it, and marks it re-delivered in the
journal when the centre takes it; the centre then clears the alert.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from telephony.journal import Entry, Journal


@dataclass(frozen=True)
class Redelivery:
    journal: Path
    entry_id: str
    kind: str
    phone: str | None
    delivered: bool
    answer: str


def journal_folders(instance: Path) -> list[Path]:
    """Every agent journal of this instance: single agents, pool workers, and the proxy's."""
    root = instance / "sip-journal"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def redeliver(folders: Iterable[Path], events_url: str, token: str, timeout_s: float = 10.0) -> list[Redelivery]:
    http = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    done: list[Redelivery] = []
    for folder in folders:
        journal = Journal(folder, fsync=True)
        try:
            for entry, _reason in journal.refused():
                later = _later_entries(journal, entry)
                try:
                    answer = http.post(events_url, json=_body(entry, True), headers=headers, timeout=timeout_s)
                    for follower in later:  # idempotent at the centre: a call's end now finds its call
                        http.post(events_url, json=_body(follower, False), headers=headers, timeout=timeout_s)
                except requests.RequestException as error:
                    done.append(_outcome(folder, entry, False, f"centre unreachable: {error.__class__.__name__}"))
                    continue
                ok = answer.status_code < 300
                if ok:
                    journal.mark_redelivered(entry.id)
                done.append(_outcome(folder, entry, ok, f"{answer.status_code} {answer.text[:200]}"))
        finally:
            journal.close()
    return done


def _later_entries(journal: Journal, entry: Entry) -> list[Entry]:
    call_id = entry.payload.get("sip_call_id")
    if entry.kind not in ("invite", "overflow") or not call_id:
        return []
    return [e for e in journal.entries_of_call(str(call_id)) if e.seq > entry.seq]


def _body(entry: Entry, redelivery: bool) -> dict[str, Any]:
    return {"id": entry.id, "kind": entry.kind, "at": entry.at.isoformat(), **entry.payload, "redelivery": redelivery}


def _outcome(folder: Path, entry: Entry, delivered: bool, answer: str) -> Redelivery:
    phone = entry.payload.get("phone")
    return Redelivery(folder, entry.id, entry.kind, str(phone) if phone else None, delivered, answer)
