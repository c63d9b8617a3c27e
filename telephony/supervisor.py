"""`warroom sip --workers N`: a pool of SIP agent processes, supervised, behind Kamailio.

Each worker is a SIP agent process of its own (`python -m telephony.worker`: its own pjsua2
endpoint, SIP port and RTP port range, its own journal). The supervisor restarts a worker
that dies at once (a worker's journal replays what it had not delivered, and closes the
calls it died holding), starts Kamailio in front when it is installed
(telephony/kamailio/kamailio.cfg, rendered with the ports and the allow-list), puts on record
what Kamailio logs whole (the calls it turns away with every line taken, and the INVITEs too big
for pjsua2, with their location: telephony/turned_away.py), and passes SIGTERM on for a clean stop.
Its children get SIGTERM from the kernel when it dies in any way (telephony/lifeline.py).

One node of two (WARROOM_SIP_ROLE, README "Two nodes behind one Kamailio"): `--agents-only` runs the
agents alone, on an address another node's Kamailio reaches; `--remote-agents` puts another node's
agents in this node's dispatcher set beside its own; `--proxy-only` runs Kamailio alone.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cad.config import Settings
from telephony.lifeline import children_of, die_with_parent, kill_left_behind
from telephony.pool import (
    AGENT_MAX_INVITE_BYTES,
    NOBODY_TO_HAND_ON,
    RETRY_AFTER_S,
    PoolLayout,
    RemoteAgent,
    RestartPolicy,
    describe_agents,
    parse_agents,
)
from telephony.screening import Network, allowed_networks
from telephony.turned_away import TurnedAway

log = logging.getLogger(__name__)

TEMPLATE = Path(__file__).parent / "kamailio" / "kamailio.cfg"
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
KAMAILIO_MODULES = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules")


#: What a node runs of the SIP intake (WARROOM_SIP_ROLE, `warroom sip --agents-only / --proxy-only`).
ROLE_ALL, ROLE_AGENTS, ROLE_PROXY = "all", "agents", "proxy"
ROLES = (ROLE_ALL, ROLE_AGENTS, ROLE_PROXY)


class BadPool(ValueError):
    """A pool that cannot run as declared (said on stdout before anything starts)."""


@dataclass(frozen=True)
class PoolConfig:
    layout: PoolLayout
    instance: Path
    bind: str = "0.0.0.0"
    overflow: str = ""
    proxy: bool = True  # Kamailio in front when installed
    invite_rate: int = 0  # INVITEs per second the proxy lets through; 0: 20 per worker
    worker_rate: int = 20  # INVITEs per second one pjsua2 worker is offered at most (it aborts near 100)
    queue_timeout_s: int = 300
    pjsip_log_level: int = 1
    allow: tuple[str, ...] = ("127.0.0.1",)  # WARROOM_SIP_ALLOW: who may send INVITE and MESSAGE (the proxy checks)
    env: dict[str, str] = field(default_factory=dict)
    role: str = ROLE_ALL  # WARROOM_SIP_ROLE: Kamailio and agents, the agents only, or Kamailio only
    agent_bind: str = "127.0.0.1"  # where an agents-only node's agents listen (the proxy node reaches them there)
    remote_agents: tuple[RemoteAgent, ...] = ()  # other nodes' agents, in this node's dispatcher set too

    @property
    def runs_agents(self) -> bool:
        return self.role != ROLE_PROXY

    @property
    def runs_proxy(self) -> bool:
        return self.role != ROLE_AGENTS and self.proxy


def pool_config(
    settings: Settings,
    port: int,
    workers: int,
    *,
    bind: str = "0.0.0.0",
    proxy: bool = True,
    log_level: int = 1,
    role: str | None = None,
    agent_bind: str | None = None,
    remote_agents: str | None = None,
) -> PoolConfig:
    """The pool `warroom sip --workers N` runs, from the environment (`Settings`); `role`, `agent_bind`
    and `remote_agents` (the command's options) over WARROOM_SIP_ROLE, _AGENT_BIND, _REMOTE_AGENTS.
    Raises BadPool for a pool that cannot run as declared."""
    role = (role or settings.sip_role).lower()
    if role not in ROLES:
        raise BadPool(f"WARROOM_SIP_ROLE={role!r}: one of {', '.join(ROLES)}")
    agent_bind = agent_bind or settings.sip_agent_bind
    try:
        remote = tuple(parse_agents(settings.sip_remote_agents if remote_agents is None else remote_agents))
    except ValueError as error:
        raise BadPool(f"remote agents: {error}") from None
    if role == ROLE_AGENTS and agent_bind in ("0.0.0.0", ""):
        raise BadPool("an agents-only node's agents listen on the address the proxy node reaches: --agent-bind ADDR")
    if role == ROLE_PROXY and not remote:
        raise BadPool("a proxy-only node needs the agents it dispatches to: --remote-agents host:first-last,…")
    if role == ROLE_AGENTS and remote:
        raise BadPool("an agents-only node runs no Kamailio: list the remote agents on the proxy node")
    env = {
        **os.environ,
        "WARROOM_CENTRE_URL": settings.centre_url,
        "WARROOM_INTAKE_TOKEN": settings.shared_intake_token(),
        "WARROOM_INSTANCE": str(settings.instance_path),
        "DATABASE_URL": settings.database_url,
        # the agents hear the proxy on this host as well as whoever the centre allows
        "WARROOM_SIP_ALLOW": ",".join(dict.fromkeys([*settings.sip_allow, "127.0.0.1"])),
    }
    return PoolConfig(
        layout=PoolLayout(port, workers),
        instance=settings.instance_path,
        bind=bind,
        overflow=settings.sip_overflow,
        proxy=proxy,
        invite_rate=settings.sip_invite_rate,
        pjsip_log_level=log_level,
        allow=settings.sip_allow,
        env=env,
        role=role,
        agent_bind=agent_bind,
        remote_agents=remote,
    )


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or ((os.path.exists("/usr/sbin/kamailio") and "/usr/sbin/kamailio") or None)


def allowed_condition(networks: Sequence[Network]) -> str:
    """The allow-list as a Kamailio condition on the source address (the proxy listens on IPv4 only,
    so IPv6 networks cannot match and are left out); nothing allowed when the list is empty."""
    tests = [f"src_ip == {n.network_address}/{n.prefixlen}" for n in networks if n.version == 4]
    return " || ".join(tests) or "1 == 0"


def host_ipv4_addresses() -> list[str]:
    """The IPv4 address of each interface of this host (Linux), loopback first."""
    import fcntl
    import struct

    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(probe.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
            except OSError:
                continue  # no IPv4 address on this interface
            found.append(socket.inet_ntoa(packed[20:24]))
    return sorted(set(found), key=lambda a: (not a.startswith("127."), a))


def proxy_addresses(bind: str, host_addresses: list[str] | None = None) -> list[str]:
    """Where Kamailio listens: `bind`, or every address of the host for 0.0.0.0; and the loopback,
    from which it offers calls to the agents (they listen on 127.0.0.1 only)."""
    wanted = (host_addresses or host_ipv4_addresses()) if bind in ("0.0.0.0", "") else [bind]
    return list(dict.fromkeys(["127.0.0.1", *wanted]))


def dispatcher_entries(layout: PoolLayout, remote: Sequence[RemoteAgent] = (), local: bool = True) -> str:
    """The agents: this node's own (`local`), each reached from Kamailio's loopback socket (so an agent
    sees 127.0.0.1 whatever address the caller reached, and its own allow-list holds), then the other
    nodes' agents, reached from whichever socket the route to them leaves by (`mhomed`). One set: the
    round robin and the failover walk over every node's agents alike."""
    socket_attr = f"socket=udp:127.0.0.1:{layout.sip_port}"
    own = [f"1 sip:127.0.0.1:{port} 0 0 {socket_attr}\n" for port in layout.worker_ports()] if local else []
    return "".join(own + [f"1 {agent.uri} 0 0\n" for agent in remote])


def render_kamailio(config: PoolConfig, dispatcher_list: Path, addresses: list[str] | None = None) -> str:
    """The Kamailio configuration for this pool (the template with ports, rates and overflow);
    `addresses`: the host's, for a bind to 0.0.0.0 (read from the interfaces when not given)."""
    if config.overflow:
        full = (
            f'\tappend_to_reply("Contact: <{config.overflow}>\\r\\n");\n'
            '\tsend_reply("302", "Every call-taker busy: overflow centre");'
        )
    else:
        full = f'\tappend_to_reply("Retry-After: {RETRY_AFTER_S}\\r\\n");\n\tsend_reply("503", "Every line busy");'
    modules = next((m for m in KAMAILIO_MODULES if os.path.isdir(m)), KAMAILIO_MODULES[0])
    layout = config.layout
    agents = (layout.workers if config.runs_agents else 0) + len(config.remote_agents)
    values = {
        "debug": "1",
        "children": "2",
        "listen": "".join(
            f'listen=udp:{a}:{layout.sip_port}\nlisten=tcp:{a}:{layout.sip_port}\nalias="{a}:{layout.sip_port}"\n'
            for a in proxy_addresses(config.bind, addresses)
        ),
        "port": str(layout.sip_port),
        "modules": modules,
        "queue_timeout_ms": str(config.queue_timeout_s * 1000),
        "invite_rate": str(config.invite_rate or 20 * agents),
        # other nodes' agents are reached from the socket the kernel's route to them leaves by
        "mhomed": "mhomed=1\n" if config.remote_agents else "",
        "worker_rate": str(config.worker_rate),
        "retry_after_s": str(RETRY_AFTER_S),
        "dispatcher_list": str(dispatcher_list),
        "pool_full_action": full,
        "allowed": allowed_condition(allowed_networks(config.allow)),
        "agent_max": str(AGENT_MAX_INVITE_BYTES),
    }
    text = TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


@dataclass
class Child:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    started_at: float = 0.0

    def start(self) -> None:
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                # the supervisor waits for its stop signals with them blocked, its children must not inherit
                # that; and they get SIGTERM when it dies, even SIGKILLed (no orphan keeps a SIP port)
                preexec_fn=die_with_parent(signal.SIGTERM, unblock=STOP_SIGNALS),
            )
        self.started_at = time.monotonic()
        self.restart_at = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


class Supervisor:
    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self.policy = RestartPolicy()
        self.folder = config.instance / "sip-pool"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []
        self.proxy: Child | None = None
        self.turned_away: TurnedAway | None = None
        self._stopping = False

    def plan(self) -> None:
        layout = self.config.layout
        proxy_binary = kamailio_binary() if self.config.runs_proxy else None
        if self.config.role == ROLE_PROXY and proxy_binary is None:
            raise BadPool("a proxy-only node needs Kamailio (Debian package kamailio), which is not installed")
        if self.config.remote_agents and proxy_binary is None:
            raise BadPool("other nodes' agents are dispatched to by Kamailio, which is not installed or --no-proxy")
        behind_proxy = proxy_binary is not None or self.config.role == ROLE_AGENTS
        if self.config.role == ROLE_AGENTS:
            worker_bind = self.config.agent_bind  # another node's Kamailio reaches them there
        else:
            worker_bind = "127.0.0.1" if behind_proxy else self.config.bind
        for index in range(layout.workers if self.config.runs_agents else 0):
            port = layout.worker_port(index)
            command = [
                sys.executable,
                "-m",
                "telephony.worker",
                "--port",
                str(port),
                "--bind",
                worker_bind,
                "--rtp-port",
                str(layout.rtp_port(index)),
                "--pjsip-log-level",
                str(self.config.pjsip_log_level),
            ]
            if behind_proxy:
                command.append("--behind-proxy")
            self.children.append(
                Child(f"worker {index + 1} (port {port})", command, self.config.env, self.folder / f"worker-{port}.log")
            )
        if proxy_binary is not None:
            dispatcher = self.folder / "dispatcher.list"
            dispatcher.write_text(
                dispatcher_entries(layout, self.config.remote_agents, local=self.config.runs_agents), encoding="utf-8"
            )
            cfg = self.folder / "kamailio.cfg"
            cfg.write_text(render_kamailio(self.config, dispatcher), encoding="utf-8")
            run = self.folder / "run"
            run.mkdir(exist_ok=True)
            command = [proxy_binary, "-DD", "-E", "-f", str(cfg), "-P", str(run / "kamailio.pid"), "-Y", str(run)]
            command += ["-w", str(self.folder)]
            self.proxy = Child("kamailio", command, self.config.env, self.folder / "kamailio.log")

    def describe(self) -> str:
        layout = self.config.layout
        ports = f"{layout.worker_port(0)}-{layout.worker_port(layout.workers - 1)}"
        remote = self.config.remote_agents
        if self.config.role == ROLE_AGENTS:
            return (
                f"SIP pool: {layout.workers} agents on {self.config.agent_bind}:{ports} for another node's Kamailio "
                f"(agents only, no proxy here): list them there as {self.config.agent_bind}:{ports} in "
                "WARROOM_SIP_REMOTE_AGENTS, and allow that node's address here in WARROOM_SIP_ALLOW"
            )
        if self.proxy is not None and self.config.role == ROLE_PROXY:
            return (
                f"SIP pool: Kamailio on {self.config.bind}:{layout.sip_port} (UDP+TCP) in front of "
                f"{len(remote)} agents of other nodes ({describe_agents(list(remote))}; proxy only); "
                f"overflow: {self.config.overflow or 'queue'}"
            )
        if self.proxy is not None:
            others = f" and {len(remote)} agents of other nodes ({describe_agents(list(remote))})" if remote else ""
            return (
                f"SIP pool: {layout.workers} agents on 127.0.0.1:{ports}{others} behind Kamailio on "
                f"{self.config.bind}:{layout.sip_port} (UDP+TCP); overflow: {self.config.overflow or 'queue'}"
            )
        why = "disabled (--no-proxy)" if not self.config.proxy else "kamailio is not installed"
        return (
            f"SIP pool: {layout.workers} agents on {self.config.bind}:{ports}; NO PROXY fronts them ({why}): "
            "point the PBX at every agent (each registers as a contact of WARROOM_SIP_ACCOUNT when "
            "WARROOM_SIP_REGISTRAR is set)"
        )

    def start(self) -> None:
        self.plan()
        for child in self.children:
            child.start()
        if self.proxy is not None:
            env = self.config.env
            self.turned_away = TurnedAway(
                self.proxy.log_path,
                self.config.instance / "sip-journal" / str(self.config.layout.sip_port),
                env.get("WARROOM_CENTRE_URL", "http://127.0.0.1:5000"),
                env.get("WARROOM_INTAKE_TOKEN", ""),
                allowed_networks(env.get("WARROOM_SIP_ALLOW", "127.0.0.1").split(",")),
                self.config.overflow or NOBODY_TO_HAND_ON,
            )
            self.proxy.start()

    def everyone(self) -> list[Child]:
        return self.children + ([self.proxy] if self.proxy else [])

    def check(self, now: float | None = None) -> None:
        """Reap the dead, restart those whose time has come."""
        now = time.monotonic() if now is None else now
        for index, child in enumerate(self.everyone()):
            process = child.process
            if process is not None and child.restart_at is None and process.poll() is not None:
                code = process.returncode
                how = f"signal {-code}" if code < 0 else f"exit code {code}"
                delay = self.policy.died(index, now)
                child.restart_at = now + delay
                log.error(
                    "%s (pid %d) died (%s) after %.1f s; restarting in %.2f s (restart %d)",
                    child.name,
                    process.pid,
                    how,
                    now - child.started_at,
                    delay,
                    self.policy.restarts(index),
                )
            if child.restart_at is not None and now >= child.restart_at and not self._stopping:
                child.start()
                log.warning("%s restarted as pid %s", child.name, child.pid)

    def run(self, poll_s: float = 0.05) -> None:
        """Watch the children until SIGTERM or SIGINT (blocked, and waited for, so the log can say
        which process asked the pool to stop)."""
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        while not self._stopping:
            self.check()
            if self.turned_away is not None:
                self.turned_away.poll()
            info = signal.sigtimedwait(STOP_SIGNALS, poll_s)
            if info is not None:
                log.warning(
                    "signal %d from pid %d (%s): stopping the pool",
                    info.si_signo,
                    info.si_pid,
                    _command_of(info.si_pid),
                )
                self._stopping = True

    def stop(self, *_args: Any) -> None:
        self._stopping = True

    def shutdown(self, grace_s: float = 15.0) -> None:
        self._stopping = True
        live = [c.process for c in self.everyone() if c.process is not None and c.process.poll() is None]
        # what each child forked (Kamailio's workers), watched until it ends: those are killed after it,
        # so none keeps a SIP port when its main process was killed or ended before them
        forked = {process.pid: children_of(process.pid) for process in live}
        for process in live:
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for process in live:
            while process.poll() is None and time.monotonic() < deadline:
                forked[process.pid] |= children_of(process.pid)
                time.sleep(0.05)
            if process.poll() is None:
                forked[process.pid] |= children_of(process.pid)
                process.kill()
                process.wait(5)
        left = kill_left_behind(set().union(*forked.values()))
        if left:
            log.warning("killed %d processes the pool's children left behind: %s", len(left), left)
        if self.turned_away is not None:
            self.turned_away.poll()
            self.turned_away.close()
        log.info("SIP pool stopped")


def _command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return "gone"


def serve_pool(config: PoolConfig) -> Supervisor:
    """Run the pool until SIGTERM/SIGINT."""
    supervisor = Supervisor(config)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    supervisor.start()
    print(supervisor.describe(), flush=True)
    for child in supervisor.everyone():
        print(f"  {child.name}: pid {child.pid}, log {child.log_path}", flush=True)
    try:
        supervisor.run()
    finally:
        supervisor.shutdown()
    return supervisor
