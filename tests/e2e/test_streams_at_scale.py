"""The production web setup (`gunicorn wsgi:app` with the repository's gunicorn.conf.py) holds a
room's worth of open event streams and still answers the API; a change reaches every stream.

Before gevent workers, 30 open streams took every thread of the 3 × 8 and the API stopped
answering (bench/shift.py measures both)."""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Callable
from pathlib import Path

import factories as f
import pytest
import requests
from flask import Flask
from live import start_gunicorn

from cad.models import Role

STREAMS = 300


def _open_stream(port: int, token: str) -> socket.socket:
    """A browser's EventSource, as raw as it gets: one socket per stream, kept open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"GET /api/v1/events HTTP/1.1\r\nHost: centre\r\nAuthorization: Bearer {token}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    return sock


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_gunicorn_holds_hundreds_of_streams_answers_the_api_and_reaches_every_stream(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    _, dispatcher = f.user(Role.DISPATCHER)
    own = f.unit("DMK-01")
    _, crew = f.user(Role.CREW, unit=own)
    token = dispatcher["Authorization"].split()[1]
    crew_token = crew["Authorization"].split()[1]
    env = {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": ""}
    node = start_gunicorn(env, tmp_path, workers=2)
    port = int(node.url.rsplit(":", 1)[1])
    sockets: dict[socket.socket, bytes] = {}
    try:
        for n in range(STREAMS):
            sockets[_open_stream(port, crew_token if n % 10 == 0 else token)] = b""
        _read_until(sockets, lambda data: b": connected" in data, timeout_s=60)

        answers = []
        for _ in range(20):  # every stream open, the API answers at once
            started = time.monotonic()
            answer = requests.get(node.url + "/api/v1/units", headers=dispatcher, timeout=10)
            answers.append((answer.status_code, time.monotonic() - started))
        assert all(code == 200 for code, _ in answers)
        assert sorted(s for _, s in answers)[18] < 2.0, answers  # p95, generous for a loaded machine

        for sock in sockets:
            sockets[sock] = b""
        made = requests.post(
            node.url + "/api/v1/incidents",
            headers=dispatcher,
            json={"type": "kebakaran", "priority": 1, "address": "Jalan Ahmad Yani"},
            timeout=10,
        )
        assert made.status_code == 201, made.text
        assigned = requests.post(
            f"{node.url}/api/v1/incidents/{made.json()['id']}/assignments",
            headers=dispatcher,
            json={"unit_id": own.id},
            timeout=10,
        )
        assert assigned.status_code == 201, assigned.text
        number = made.json()["number"].encode()
        consoles = [s for n, s in enumerate(sockets) if n % 10]
        crews = [s for n, s in enumerate(sockets) if n % 10 == 0]
        _read_until(sockets, lambda data: b"event: assignment" in data, timeout_s=30)
        assert all(number in sockets[s] for s in consoles)  # every console heard of the incident
        assert not any(number in sockets[s] for s in crews)  # a crew, only of its unit's assignment
        assert all(f'"unit_id": {own.id}'.encode() in sockets[s] for s in crews)
    finally:
        for sock in sockets:
            sock.close()
        node.stop()


def _read_until(sockets: dict[socket.socket, bytes], done: Callable[[bytes], bool], timeout_s: float) -> None:
    """Read every socket until `done(what it got)` holds for each (or fail, naming how many)."""
    selector = selectors.DefaultSelector()
    waiting = set()
    for sock in sockets:
        if not done(sockets[sock]):
            selector.register(sock, selectors.EVENT_READ)
            waiting.add(sock)
    deadline = time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            sock = waiting_socket(key)
            chunk = sock.recv(65536)
            sockets[sock] += chunk
            if not chunk or done(sockets[sock]):
                selector.unregister(sock)
                waiting.discard(sock)
    selector.close()
    assert not waiting, f"{len(waiting)} of {len(sockets)} streams did not get there in {timeout_s} s"


def waiting_socket(key: selectors.SelectorKey) -> socket.socket:
    assert isinstance(key.fileobj, socket.socket)
    return key.fileobj
