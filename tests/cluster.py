"""Centre nodes on one database behind HAProxy, started as a user deploys them (README, "Deployment").

Each node is `gunicorn wsgi:app` (the repository's gunicorn.conf.py, bound with `--bind`) and
`warroom scheduler`, with a `WARROOM_INSTANCE` folder of its own; HAProxy runs
`deploy/haproxy.cfg` itself, its addresses given in the environment. Every process is a process
group of its own, so a test or a benchmark may kill a node outright (SIGKILL to gunicorn's master
and workers at once, as a crash or a machine switched off would).

No pytest here: bench/ imports this module too (`sys.path` holds tests/, as for `live`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import requests
from live import INTAKE_TOKEN, free_udp_port

REPO = Path(__file__).resolve().parents[1]
HAPROXY_CONFIG = REPO / "deploy" / "haproxy.cfg"
NODE_NAMES = "abcdefgh"


class ClusterError(RuntimeError):
    """A part of the cluster did not start; the message carries the end of its log."""


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def _end(process: subprocess.Popen[bytes] | None, sig: int, wait_s: float) -> None:
    """Signal the process's whole group (gunicorn's workers, a pool's children); SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(wait_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


@dataclass
class Node:
    """One centre node: gunicorn and the scheduler, on the port and in the instance folder given."""

    name: str
    port: int
    instance: Path
    env: dict[str, str]
    web: subprocess.Popen[bytes] | None = None
    scheduler: subprocess.Popen[bytes] | None = None
    _logs: list[IO[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def web_log(self) -> Path:
        return self.instance / "gunicorn.log"

    @property
    def scheduler_log(self) -> Path:
        return self.instance / "scheduler.log"

    def _spawn(self, command: list[str], log: Path) -> subprocess.Popen[bytes]:
        handle = open(log, "ab")  # noqa: SIM115
        self._logs.append(handle)
        return subprocess.Popen(
            command, cwd=REPO, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self, workers: int, scheduler: bool = True) -> None:
        """gunicorn as `gunicorn wsgi:app` from the checkout (so it reads gunicorn.conf.py), and the scheduler."""
        self.instance.mkdir(parents=True, exist_ok=True)
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.web = self._spawn(
            [gunicorn, "wsgi:app", "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)], self.web_log
        )
        if scheduler:
            self.scheduler = self._spawn([sys.executable, "-m", "cad.cli", "scheduler"], self.scheduler_log)

    def healthy(self) -> bool:
        try:
            return requests.get(self.url + "/api/v1/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if self.web is None or self.web.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"node {self.name} did not come up:\n{_tail(self.web_log)}")
            time.sleep(0.1)

    def web_pids(self) -> list[int]:
        """gunicorn's master and its workers still alive (the master's process group)."""
        if self.web is None:
            return []
        pgid = self.web.pid
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    state, _, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
                    if int(group) == pgid and state != "Z":  # a zombie is dead, only not reaped yet
                        pids.append(int(entry.name))
        return sorted(pids)

    def kill(self, scheduler: bool = True) -> None:
        """Dead at once, as in a crash: SIGKILL to gunicorn's master and workers (and the scheduler)."""
        for process in (self.web, self.scheduler if scheduler else None):
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def stop(self) -> None:
        """SIGTERM, as systemd stops a service: gunicorn finishes its requests, the scheduler gives up its lease."""
        _end(self.web, signal.SIGTERM, 30)
        _end(self.scheduler, signal.SIGTERM, 30)
        for handle in self._logs:
            handle.close()
        self._logs.clear()


@dataclass
class Balancer:
    """HAProxy running deploy/haproxy.cfg (or a copy of it with more `server` lines)."""

    port: int
    stats_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    _handle: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, config: Path, nodes: list[Node]) -> None:
        haproxy = shutil.which("haproxy")
        if haproxy is None:
            raise ClusterError("haproxy is not installed (Debian package haproxy)")
        env = {
            **os.environ,
            "WARROOM_HAPROXY_BIND": f"127.0.0.1:{self.port}",
            "WARROOM_HAPROXY_STATS": f"127.0.0.1:{self.stats_port}",
            **{f"WARROOM_NODE_{node.name.upper()}": f"127.0.0.1:{node.port}" for node in nodes},
        }
        self._handle = open(self.log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [haproxy, "-db", "-f", str(config)],
            env=env,
            stdout=self._handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def states(self) -> dict[str, str]:
        """Each node's state as HAProxy sees it (`UP`, `DOWN`, `UP 1/2` while it goes down …)."""
        answer = requests.get(f"http://127.0.0.1:{self.stats_port}/;csv", timeout=2)
        answer.raise_for_status()
        rows = csv.DictReader(io.StringIO(answer.text.lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "nodes" and len(row["svname"]) == 1}

    def wait_all_up(self, names: list[str], timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            with contextlib.suppress(requests.RequestException):
                if all(self.states().get(name) == "UP" for name in names):
                    return
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                raise ClusterError(f"HAProxy does not see every node up:\n{_tail(self.log)}")
            time.sleep(0.1)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        _end(self.process, signal.SIGTERM, 10)
        if self._handle is not None:
            self._handle.close()
            self._handle = None


@dataclass
class Cluster:
    url: str  # HAProxy: where every client goes
    nodes: list[Node]
    balancer: Balancer
    env: dict[str, str]  # what every node runs with (the shared secrets among it)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def stop(self) -> None:
        self.balancer.stop()
        for node in self.nodes:
            node.stop()


def haproxy_config(work: Path, nodes: int) -> Path:
    """deploy/haproxy.cfg itself for two nodes; for more, a copy with a `server` line per node, as the
    README tells an operator to add them."""
    if nodes <= 2:
        return HAPROXY_CONFIG
    text = HAPROXY_CONFIG.read_text()
    for suffix in ("", "-last"):  # each node checked, and again as an unchecked last resort
        tail = " backup no-check" if suffix else ""
        anchor = f'    server b{suffix} "${{WARROOM_NODE_B}}"{tail}\n'
        extra = "".join(f'    server {n}{suffix} "${{WARROOM_NODE_{n.upper()}}}"{tail}\n' for n in NODE_NAMES[2:nodes])
        text = text.replace(anchor, anchor + extra)
    copy = work / "haproxy.cfg"
    copy.write_text(text)
    return copy


def node_env(database_url: str, public_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """What every node of one centre shares (README, "Deployment"): the database, the secret that signs
    console sessions, the SIP agents' intake token, the public URL Twilio signs, the proxy in front."""
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "WARROOM_INTAKE_TOKEN": INTAKE_TOKEN,
        "WARROOM_PUBLIC_URL": public_url,
        "WARROOM_CENTRE_URL": public_url,
        "WARROOM_PROXIES": "1",
        "WARROOM_ROADS": "",
        **(extra or {}),
    }


def start_cluster(
    database_url: str,
    work: Path,
    *,
    nodes: int = 2,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    scheduler: bool = True,
    upgrade: bool = True,
) -> Cluster:
    """`nodes` centre nodes on `database_url` behind HAProxy, every node up and seen up; `env` adds to
    what the nodes share (Twilio's token, limits …). The caller stops it (`Cluster.stop`)."""
    if not 2 <= nodes <= len(NODE_NAMES):
        raise ValueError(f"2 to {len(NODE_NAMES)} nodes")
    work.mkdir(parents=True, exist_ok=True)
    balancer = Balancer(free_udp_port(), free_udp_port(), work / "haproxy.log")
    shared = node_env(database_url, balancer.url, env)
    base = {key: value for key, value in os.environ.items() if key not in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")}
    members = []
    for name in NODE_NAMES[:nodes]:
        instance = work / f"node-{name}"
        members.append(Node(name, free_udp_port(), instance, {**base, **shared, "WARROOM_INSTANCE": str(instance)}))
    cluster = Cluster(balancer.url, members, balancer, shared)
    try:
        if upgrade:  # once, before the nodes start, as an operator does on an upgrade
            done = subprocess.run(
                [sys.executable, "-m", "cad.cli", "db", "upgrade"],
                cwd=REPO,
                env=members[0].env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                raise ClusterError(f"warroom db upgrade failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        for node in members:
            node.start(workers, scheduler)
        for node in members:
            node.wait_healthy()
        balancer.start(haproxy_config(work, nodes), members)
        balancer.wait_all_up([node.name for node in members])
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextlib.contextmanager
def running_cluster(
    database_url: str,
    work: Path,
    *,
    nodes: int = 2,
    workers: int = 2,
    env: Mapping[str, str] | None = None,
    scheduler: bool = True,
    upgrade: bool = True,
) -> Iterator[Cluster]:
    """`start_cluster`, stopped however the block ends."""
    cluster = start_cluster(
        database_url, work, nodes=nodes, workers=workers, env=env, scheduler=scheduler, upgrade=upgrade
    )
    try:
        yield cluster
    finally:
        cluster.stop()
