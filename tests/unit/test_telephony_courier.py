"""The courier against a centre that fails on one entry: the entries behind it still arrive, and the
one it cannot take is set aside with a report, never retried forever in front of every later call."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from telephony.courier import Courier
from telephony.journal import SET_ASIDE, Journal


class FaultyCentre(BaseHTTPRequestHandler):
    """Answers 500 to every `poison` entry (a bug in the centre), 200 to the rest; remembers what came."""

    received: list[dict[str, object]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        status = 500 if body.get("kind") == "poison" else 200
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"code": "internal"}}' if status == 500 else b"{}")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def centre() -> Iterator[str]:
    FaultyCentre.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FaultyCentre)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/telephony/sip/events"
    server.shutdown()
    server.server_close()


def test_an_entry_the_centre_fails_on_is_set_aside_and_the_calls_behind_it_arrive(centre: str, tmp_path: Path) -> None:
    with Journal(tmp_path, fsync=False) as journal:
        poison = journal.append("poison", {"phone": "+628111"})
        journal.append("invite", {"sip_call_id": "after@x", "phone": "+628222"})
        courier = Courier(journal, centre, "t", max_backoff_s=0.05, max_faults=3)
        courier.start()
        deadline = time.monotonic() + 10
        while journal.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        courier.stop()
        kinds = [body["kind"] for body in FaultyCentre.received]
        assert kinds == ["poison", "poison", "poison", "invite", SET_ASIDE]
        report = FaultyCentre.received[-1]
        assert report["entry"]["id"] == poison.id and str(report["reason_text"]).startswith("500 after 3 tries")
        assert [entry.id for entry, _ in journal.refused()] == [poison.id]
        assert journal.pending() == []
