"""Live parts for end-to-end tests and benchmarks: the centre over real HTTP, the SIP agent
as its own process, sipp as the caller."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from flask.testing import FlaskClient
from requirements import need_tool

#: The older name of `requirements.need_tool`, for callers written before it.
require_tool = need_tool

SIPP_DIR = Path(__file__).parent / "e2e" / "sipp"
INTAKE_TOKEN = "e2e-intake-token"


def wait_for(probe: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """`probe()` once it is truthy, polled every 50 ms; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@dataclass
class LiveCentre:
    app: Flask
    url: str
    instance: Path

    def get(self, path: str, token: str) -> requests.Response:
        return requests.get(self.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10)

    def post(self, path: str, token: str, json: object = None) -> requests.Response:
        return requests.post(self.url + path, json=json, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@dataclass(frozen=True)
class Sse:
    """One block of a Server-Sent-Events stream: an event (`kind`, `data`), an `id:`-only
    block (kind ""), or a comment (kind ":", its text in `data`). `id` is the stream's last id so
    far, as a browser keeps it; `retry_ms` the block's `retry:`, if it had one."""

    id: int | None
    kind: str
    data: Any
    retry_ms: int | None = None


def sse_blocks(lines: Iterable[str]) -> Iterator[Sse]:
    """The blocks of a stream's lines, parsed as a browser's EventSource parses them."""
    import json as _json

    event_id: int | None = None
    kind, data, comment, retry = "", [], [], None
    for line in lines:
        if line:
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "":
                comment.append(value)
            elif field == "id":
                event_id = int(value)
            elif field == "event":
                kind = value
            elif field == "data":
                data.append(value)
            elif field == "retry" and value.isdigit():
                retry = int(value)
            continue
        if data:
            yield Sse(event_id, kind or "message", _json.loads("\n".join(data)), retry)
        elif comment:
            yield Sse(event_id, ":", "\n".join(comment), retry)
        elif event_id is not None:
            yield Sse(event_id, "", None, retry)
        kind, data, comment, retry = "", [], [], None


def read_events(
    url: str, headers: dict[str, str], *, last_event_id: int | None = None, timeout_s: float = 10.0
) -> Iterator[Sse]:
    """One connection to an event stream, read as a browser's EventSource reads it; ends when
    the connection does (a test reconnects with the last id it saw, as the browser does)."""
    sent = {**headers, **({"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {})}
    with requests.get(url, headers=sent, stream=True, timeout=(5, timeout_s)) as response:
        response.raise_for_status()
        try:
            yield from sse_blocks(response.iter_lines(decode_unicode=True))
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            return


def free_udp_port() -> int:
    """A port free for both UDP and TCP (SIP listens on both), away from other tests' picks."""
    import random
    import socket

    for _ in range(200):
        port = random.randint(21000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
            try:
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def free_udp_ports(count: int) -> int:
    """The first of `count` consecutive ports free for UDP and TCP (a pool: proxy, then workers)."""
    import socket

    for _ in range(200):
        first = free_udp_port()
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    sockets.append(s)
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free block of ports")


def _agent_env(centre_url: str, instance: Path, ring_s: float, extra_env: dict[str, str] | None) -> dict[str, str]:
    """What a SIP agent (or a pool of them) started by a test runs with."""
    return {
        **os.environ,
        "WARROOM_INSTANCE": str(instance),
        "WARROOM_CENTRE_URL": centre_url,
        "WARROOM_INTAKE_TOKEN": INTAKE_TOKEN,
        "WARROOM_SIP_ALLOW": "127.0.0.1",
        "WARROOM_SIP_RING_S": str(ring_s),
        "WARROOM_ROADS": "",
        **(extra_env or {}),
    }


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _terminate(process: subprocess.Popen[str], handle: Any, wait_s: float) -> int:
    """SIGTERM, the exit code (killed if it takes longer than `wait_s`); its log closed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(wait_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    if handle is not None:
        handle.close()
    return process.returncode


@dataclass
class AgentProcess:
    process: subprocess.Popen[str]
    port: int
    log: Path
    handle: Any = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        return _terminate(self.process, self.handle, 15)


def start_agent(
    centre_url: str, instance: Path, port: int, *, ring_s: float = 0.2, extra_env: dict[str, str] | None = None
) -> AgentProcess:
    log = instance / f"sip-{port}.log"
    env = _agent_env(centre_url, instance, ring_s, extra_env)
    handle = open(log, "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "cad.cli", "sip", "--port", str(port), "--bind", "127.0.0.1"],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    agent = AgentProcess(process, port, log, handle)
    deadline = time.monotonic() + 20
    while "SIP agent on 127.0.0.1" not in agent.output():
        if process.poll() is not None or time.monotonic() > deadline:
            agent.stop()
            raise RuntimeError(f"SIP agent did not start:\n{agent.output()[-3000:]}")
        time.sleep(0.05)
    return agent


@dataclass
class PoolProcess:
    """`warroom sip --workers N` as its own process: the supervisor, its workers, Kamailio."""

    process: subprocess.Popen[str]
    port: int
    workers: int
    instance: Path
    log: Path
    handle: Any = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_log(self, index: int) -> str:
        path = self.instance / "sip-pool" / f"worker-{self.port + 1 + index}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def worker_pids(self) -> list[int]:
        """The live worker processes, by port (read from /proc: the supervisor's children)."""
        pids: dict[int, int] = {}
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        for pid in children:
            try:
                args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"telephony.worker" in args:
                pids[int(args[args.index(b"--port") + 1])] = int(pid)
        return [pids.get(self.port + 1 + i, 0) for i in range(self.workers)]

    def stop(self) -> int:
        return _terminate(self.process, self.handle, 30)


def start_pool(
    centre_url: str,
    instance: Path,
    workers: int,
    *,
    ring_s: float = 0.2,
    extra_env: dict[str, str] | None = None,
    proxy: bool = True,
    bind: str = "127.0.0.1",
    port: int | None = None,
    args: list[str] | None = None,
) -> PoolProcess:
    """`warroom sip --workers N` on `port` (free ones picked when not given), with more options in `args`
    (`--agents-only --agent-bind 127.0.0.3`, `--remote-agents …`: one node of two); an agents-only node
    runs no Kamailio (give `proxy=False`)."""
    port = port or free_udp_ports(workers + 1)
    log = instance / f"sip-pool-{port}.log"
    env = _agent_env(centre_url, instance, ring_s, extra_env)
    handle = open(log, "w")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "cad.cli", "sip", "--workers", str(workers), "--port", str(port), "--bind", bind]
        + ([] if proxy else ["--no-proxy"])
        + (args or []),
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pool = PoolProcess(process, port, workers, instance, log, handle)
    deadline = time.monotonic() + 40
    kamailio = instance / "sip-pool" / "kamailio.log"

    def listening() -> bool:
        proxy_up = not proxy or shutil.which("kamailio") is None or "Listening on" in _text(kamailio)
        return proxy_up and all("(UDP+TCP)" in pool.worker_log(i) for i in range(workers))

    while not listening():
        if process.poll() is not None or time.monotonic() > deadline:
            pool.stop()
            raise RuntimeError(f"SIP pool did not start:\n{pool.output()[-3000:]}")
        time.sleep(0.05)
    return pool


def sipp_listener(scenario: str | Path, port: int, log: Path, *, timeout_s: int = 30) -> subprocess.Popen[str]:
    """sipp as the far end (a phone receiving a reply, a PBX's registrar): one message, then it exits;
    what its scenario (a name in tests/e2e/sipp, or a path) logs goes to `log`."""
    return subprocess.Popen(
        [
            need_tool("sipp"),
            "-sf",
            str(SIPP_DIR / scenario),
            "-p",
            str(port),
            "-i",
            "127.0.0.1",
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            f"{timeout_s}s",
            "-timeout_error",
            "-trace_logs",
            "-log_file",
            str(log),
        ],
        cwd=log.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def sipp(
    scenario: str,
    target: str,
    *,
    calls: int = 1,
    rate: float = 1.0,
    limit: int = 4,
    keys: dict[str, str] | None = None,
    timeout_s: float = 60,
    extra: list[str] | None = None,
    cwd: Path | None = None,
    local_ip: str = "127.0.0.1",
) -> subprocess.CompletedProcess[str]:
    """sipp placing `calls` calls of `scenario` to `target` from `local_ip` (another loopback address,
    127.0.0.2, plays a source outside the allow-list)."""
    command = [
        need_tool("sipp"),
        "-sf",
        str(SIPP_DIR / scenario),
        target,
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(limit),
        "-nostdin",
        "-timeout",
        f"{int(timeout_s)}s",
        "-timeout_error",
        "-i",
        local_ip,
        "-p",
        "0",
        "-trace_err",
        "-trace_screen",
    ]
    keys = dict(keys or {})
    if "hold_ms" in keys:  # how long a call talks: sipp's <pause/> takes it from -d
        command += ["-d", keys.pop("hold_ms")]
    for key, value in keys.items():
        command += ["-key", key, value]
    return subprocess.run(
        command + (extra or []),
        capture_output=True,
        text=True,
        timeout=timeout_s + 30,
        cwd=cwd or tempfile.gettempdir(),
    )


@dataclass
class DisposablePostgres:
    """A PostgreSQL cluster of its own (Debian's pg_createcluster) that a test may stop and start."""

    version: str
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/warroom"

    def _ctl(self, action: str) -> None:
        subprocess.run(
            [
                "pg_ctlcluster",
                "--skip-systemctl-redirect",
                self.version,
                self.name,
                action,
                *(["-m", "fast"] if action == "stop" else []),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def stop(self) -> None:
        self._ctl("stop")

    def ready(self) -> bool:
        return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-q"]).returncode == 0

    def start(self) -> None:
        if self.ready():
            return
        self._ctl("start")
        deadline = time.monotonic() + 30
        while not self.ready():
            if time.monotonic() > deadline:
                raise RuntimeError("disposable PostgreSQL did not come back")
            time.sleep(0.1)

    @classmethod
    def create(cls) -> DisposablePostgres:
        versions = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])
        cls.drop_abandoned(versions[-1])
        port = free_udp_port()
        cluster = cls(versions[-1], f"warroom{os.getpid()}", port)
        subprocess.run(
            ["pg_createcluster", cluster.version, cluster.name, "-p", str(port), "--start", "--", "--auth=trust"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        try:
            cluster.start()
            subprocess.run(
                ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "CREATE DATABASE warroom"],
                check=True,
                capture_output=True,
                timeout=60,
            )
        except (subprocess.SubprocessError, RuntimeError):
            cluster.drop()
            raise
        return cluster

    @staticmethod
    def drop_abandoned(version: str) -> None:
        """Clusters left behind by a test run that died (its process is gone)."""
        for name in os.listdir(f"/etc/postgresql/{version}"):
            pid = name.removeprefix("warroom")
            if name.startswith("warroom") and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                subprocess.run(["pg_dropcluster", "--stop", version, name], capture_output=True, timeout=120)

    def drop(self) -> None:
        subprocess.run(["pg_dropcluster", "--stop", self.version, self.name], capture_output=True, timeout=120)


REPO = Path(__file__).resolve().parent.parent


@dataclass
class GunicornCentre:
    """`gunicorn wsgi:app` as production runs it (the repository's gunicorn.conf.py, whatever its
    worker class), on a port of its own, every request in its access log with the worker's pid."""

    process: subprocess.Popen[bytes]
    url: str
    workers: int
    access: Path
    log: Path
    handle: Any = None

    def output(self) -> str:
        return _text(self.log)

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def served_by(self, method: str, path: str) -> list[int]:
        """The pid of the worker that served each `method path` request so far."""
        pids = []
        for line in _text(self.access).splitlines():
            pid, _, request = line.partition(" ")
            if request.startswith(f"{method} {path} "):
                pids.append(int(pid.strip("<>")))
        return pids

    def stop(self) -> int:
        return _terminate(self.process, self.handle, 30)


def start_gunicorn(env: dict[str, str], instance: Path, workers: int = 3) -> GunicornCentre:
    """The centre under gunicorn with `workers` workers (WEB_CONCURRENCY), `env` its settings;
    back once every worker answers."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    access, log = instance / f"gunicorn-{port}-access.log", instance / f"gunicorn-{port}.log"
    handle = open(log, "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-b",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(access),
            "--access-logformat",
            "%(p)s %(r)s",
            "wsgi:app",
        ],
        env={**os.environ, **env, "WEB_CONCURRENCY": str(workers)},
        cwd=REPO,  # where gunicorn reads gunicorn.conf.py
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    centre = GunicornCentre(process, f"http://127.0.0.1:{port}", workers, access, log, handle)
    deadline = time.monotonic() + 60
    while centre.output().count("Booting worker") < workers or not _answers(centre.url):
        if process.poll() is not None or time.monotonic() > deadline:
            centre.stop()
            raise RuntimeError(f"gunicorn did not start:\n{centre.output()[-3000:]}")
        time.sleep(0.1)
    return centre


def _answers(url: str) -> bool:
    try:
        return requests.get(url + "/api/v1/health", timeout=2).ok
    except requests.RequestException:
        return False


class CommittingClient(FlaskClient):
    """Flask's test client, committing the test's session before each request: the rows the test
    built (factories flush) are committed when the app is asked, as a client elsewhere would find
    them, and a refused request (whose audit rolls back what it left open) cannot take them along.
    A client in a thread of the test's own (no app context there) has no session to commit: the test
    commits before it starts such threads."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from flask import has_app_context

        from cad.db import db

        if has_app_context():
            db.session.commit()
        return super().open(*args, **kwargs)


def running(app: Flask) -> Iterator[FlaskClient]:
    """A test client (committing, as above) inside the app's context; the app's background parts stop
    afterwards."""
    from cad.app import close_app

    app.test_client_class = CommittingClient
    try:
        with app.app_context():
            yield app.test_client()
    finally:
        close_app(app)


def client_with(env: dict[str, str]) -> Iterator[FlaskClient]:
    """A test client of a centre made from the settings `env` alone, inside its app context."""
    from cad.app import create_app
    from cad.config import Settings

    yield from running(create_app({"TESTING": True}, settings=Settings.from_env(env)))


def serve_centre(database_url: str, instance: Path, **extra: str) -> Iterator[LiveCentre]:
    """The centre on `database_url` over real HTTP, no road network, the agents' shared token, plus
    `extra` settings (`WARROOM_SIP_AGENT_SILENT_S="4"`, …)."""
    from cad.app import create_app
    from cad.config import Settings

    env = {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(instance), "WARROOM_ROADS": ""}
    settings = Settings.from_env({**env, "WARROOM_INTAKE_TOKEN": INTAKE_TOKEN, **extra})
    yield from serve(create_app({"TESTING": True}, settings=settings), instance)


def serve(app: Flask, instance: Path, before_stop: Callable[[], None] | None = None) -> Iterator[LiveCentre]:
    """`app` over real HTTP on a free port, for as long as the generator is open."""
    import threading

    from werkzeug.serving import make_server

    from cad.app import close_app
    from cad.db import db

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with app.app_context():
        yield LiveCentre(app, f"http://127.0.0.1:{server.server_port}", instance)
        db.session.remove()
    server.shutdown()
    if before_stop is not None:
        before_stop()
    close_app(app)


def demo_centre(database_url: str, instance: Path, env: dict[str, str]) -> Iterator[LiveCentre]:
    """The demo city (agencies, stations, 41 units, cameras) seeded on the Balikpapan extract and
    served over real HTTP; `env` adds to the settings (Twilio token, GPS dwell …)."""
    from cad.app import create_app
    from cad.config import SHARED_DATA, Settings
    from cad.db import db
    from cad.demo import seed_demo

    roads = str(SHARED_DATA / "balikpapan_kota.overpass.json")
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(instance),
            "WARROOM_ROADS": roads,
            "WARROOM_INTAKE_TOKEN": INTAKE_TOKEN,
            **env,
        }
    )
    app = create_app({"TESTING": True}, settings=settings)
    with app.app_context():
        seed_demo(db.session, roads)
        db.session.remove()
    yield from serve(app, instance)
