"""The SIP agent's journal: on disk before anything else, replayed until acknowledged."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from telephony.journal import DEAD, DELIVERED, ENTRIES, Journal


def test_pending_entries_survive_a_restart_in_order(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    a = journal.append("invite", {"sip_call_id": "a"})
    b = journal.append("end", {"sip_call_id": "a"})
    c = journal.append("invite", {"sip_call_id": "c"})
    journal.mark_delivered(a.id)
    journal.close()
    with Journal(tmp_path) as again:
        assert [(e.id, e.kind, e.payload) for e in again.pending()] == [
            (b.id, "end", {"sip_call_id": "a"}),
            (c.id, "invite", {"sip_call_id": "c"}),
        ]
        assert again.append("invite", {}).seq == 4  # numbering goes on after a restart


def test_a_line_torn_by_a_crash_is_skipped_not_fatal(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    kept = journal.append("invite", {"sip_call_id": "x"})
    journal.close()
    with open(tmp_path / ENTRIES, "a") as handle:
        handle.write('{"id": "torn", "seq": 2, "kind": "inv')
    with Journal(tmp_path) as again:
        assert [e.id for e in again.pending()] == [kept.id]


def test_refused_entries_are_set_aside_with_the_reason(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        entry = journal.append("invite", {"sip_call_id": "bad"})
        journal.refuse(entry, "400 sip_call_id: too long")
        assert journal.pending() == []
    dead = json.loads((tmp_path / DEAD).read_text())
    assert dead["reason"].startswith("400") and dead["entry"]["id"] == entry.id
    assert entry.id in (tmp_path / DELIVERED).read_text()


def test_delivering_twice_writes_one_acknowledgement(tmp_path: Path) -> None:
    with Journal(tmp_path) as journal:
        entry = journal.append("invite", {})
        journal.mark_delivered(entry.id)
        journal.mark_delivered(entry.id)
    assert (tmp_path / DELIVERED).read_text().split() == [entry.id]


def test_concurrent_appends_keep_unique_sequence_numbers(tmp_path: Path) -> None:
    journal = Journal(tmp_path, fsync=False)
    threads = [threading.Thread(target=lambda: [journal.append("invite", {}) for _ in range(50)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    seqs = [json.loads(line)["seq"] for line in (tmp_path / ENTRIES).read_text().splitlines()]
    assert sorted(seqs) == list(range(1, 201))
    with Journal(tmp_path) as again:
        assert len(again.pending()) == 200


def test_calls_an_agent_died_holding_are_known_after_the_restart(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append("invite", {"sip_call_id": "done"})
    journal.append("end", {"sip_call_id": "done"})
    first = journal.append("invite", {"sip_call_id": "held"})
    journal.append("invite", {"sip_call_id": "queued", "queued": True})
    journal.append("message", {"external_id": "m"})
    journal.mark_delivered(first.id)  # delivered or not, it never ended
    journal.close()
    with Journal(tmp_path) as again:
        assert again.unfinished_calls() == ["held", "queued"]
        again.append("end", {"sip_call_id": "held"})
    with Journal(tmp_path) as third:
        assert third.unfinished_calls() == ["queued"]
