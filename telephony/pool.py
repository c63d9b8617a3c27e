"""Decisions of the SIP agent pool, pure: where a new 112 call goes, and when a dead worker restarts.

pjsua2 from PyPI holds four calls per process and answers `486 Busy Here` itself past that
(../shared/notes/PROTOCOLS.md). A 112 caller must never hear busy, so a worker keeps its
last slot in reserve and never lets the library reach its limit: a full worker hands the
call on (503, the proxy tries the next worker), and only when the proxy says every worker
is full (`X-Warroom-Pool-Full`) does the reserved slot take it, to redirect it to the
overflow centre (302) or to keep the caller ringing in the queue. An agent on its own has
nobody to hand a call on to: its reserved slot answers 503 and puts the call on record as
overflowed (a queued caller there would leave the library to answer the next one 486, unseen).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: Calls one pjsua2 process can hold (compiled into the PyPI build, whatever maxCalls says).
PJSUA2_CALLS = 4
#: Slots kept back so the library itself never answers busy.
RESERVED = 1
#: The header the proxy adds when it offers a call a second time, every worker having been full.
POOL_FULL_HEADER = "X-Warroom-Pool-Full"
#: What a full worker tells the proxy (and a flood's senders) to wait before trying it again.
RETRY_AFTER_S = 1
#: Where a call turned away with 503 went, as the call's record says.
NOBODY_TO_HAND_ON = "none: every line busy, the caller heard 503"
#: The header the proxy adds to an INVITE it logged whole and cut down to what pjsua2 takes.
WHOLE_INVITE_HEADER = "X-Warroom-Whole-Invite"
#: The biggest INVITE the proxy forwards as it came (measured: pjsua2 from PyPI takes a message of up
#: to 4,000 bytes; the proxy adds ~250 bytes of Via, Record-Route and its own headers).
AGENT_MAX_INVITE_BYTES = 3500


def has_header(raw: str | bytes, name: str) -> bool:
    """Whether the message's header section holds `name` (never its body)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    head = text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0]
    wanted = name.lower() + ":"
    return any(line.strip().lower().startswith(wanted) for line in head.splitlines()[1:])


def offered_as_pool_full(raw: str | bytes) -> bool:
    """Whether the proxy marked this INVITE as offered again because every worker was full."""
    return has_header(raw, POOL_FULL_HEADER)


def logged_whole(raw: str | bytes) -> bool:
    """Whether the proxy logged this INVITE whole (its location reaches the centre that way) and
    forwarded only the SDP offer."""
    return has_header(raw, WHOLE_INVITE_HEADER)


class Placement(StrEnum):
    TAKE = "take"  # answered: ringing for the call-takers
    HAND_ON = "hand_on"  # 503 + Retry-After: the proxy tries another worker
    QUEUE = "queue"  # the reserved slot: the caller keeps ringing until a slot frees
    REDIRECT = "redirect"  # the reserved slot: 302 to WARROOM_SIP_OVERFLOW
    TURN_AWAY = "turn_away"  # the reserved slot of an agent on its own: 503, on record as overflowed


def place_call(
    held: int,
    *,
    behind_proxy: bool,
    pool_full: bool,
    overflow: str,
    queued: int,
    capacity: int = PJSUA2_CALLS,
    reserved: int = RESERVED,
) -> Placement:
    """Where a new INVITE goes, given the calls this worker already holds (taken, queued, or
    still being refused). Behind a proxy a full worker hands the call on until the proxy says the
    whole pool is full; a worker on its own (or one of several contacts at a PBX) cannot know,
    so it uses its reserved slot at once: to redirect, or to answer 503 itself and record the call
    (it never queues: with its last slot taken the library would answer the next caller 486)."""
    if held < capacity - reserved:
        return Placement.TAKE
    if behind_proxy and not pool_full:
        return Placement.HAND_ON
    if overflow:
        return Placement.REDIRECT
    if not behind_proxy:
        return Placement.TURN_AWAY
    if queued < reserved and held < capacity:
        return Placement.QUEUE
    return Placement.HAND_ON


@dataclass
class RestartPolicy:
    """How soon a dead worker starts again: at once, unless it keeps dying, then with a backoff
    that never exceeds `max_delay_s` (a worker is always back within 2 s of its death)."""

    first_delay_s: float = 0.0
    max_delay_s: float = 1.0
    crash_loop_window_s: float = 10.0
    _deaths: dict[int, list[float]] = field(default_factory=dict)

    def died(self, worker: int, at_s: float) -> float:
        """Record a death at monotonic time `at_s`; return the delay before restarting it."""
        recent = [t for t in self._deaths.get(worker, []) if at_s - t < self.crash_loop_window_s]
        recent.append(at_s)
        self._deaths[worker] = recent
        if len(recent) == 1:
            return self.first_delay_s
        return min(0.1 * 2.0 ** (len(recent) - 2), self.max_delay_s)

    def restarts(self, worker: int) -> int:
        return len(self._deaths.get(worker, []))


@dataclass(frozen=True)
class PoolLayout:
    """The ports of a pool: the centre's SIP port for the proxy, the ports above it for workers,
    and a range of RTP ports of each worker's own."""

    sip_port: int
    workers: int
    rtp_base: int = 40000
    rtp_ports: int = 100

    def worker_port(self, index: int) -> int:
        return self.sip_port + 1 + index

    def rtp_port(self, index: int) -> int:
        """As a single `warroom sip` picks it: distinct for up to 100 consecutive SIP ports."""
        return self.rtp_base + (self.worker_port(index) % 100) * self.rtp_ports

    def worker_ports(self) -> list[int]:
        return [self.worker_port(i) for i in range(self.workers)]


@dataclass(frozen=True)
class RemoteAgent:
    """An agent of another node, in this node's Kamailio dispatcher set."""

    host: str
    port: int

    @property
    def uri(self) -> str:
        return f"sip:{self.host}:{self.port}"


class BadAgentList(ValueError):
    pass


def parse_agents(spec: str) -> list[RemoteAgent]:
    """`WARROOM_SIP_REMOTE_AGENTS` / `--remote-agents`: `host:port` or `host:first-last`, comma-separated
    (`10.0.0.2:5061-5069,10.0.0.3:5061`); each agent once, in the order given."""
    agents: dict[RemoteAgent, None] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        host, sep, ports = item.rpartition(":")
        if not sep or not host or host in ("0.0.0.0", "*") or any(c.isspace() for c in host):
            raise BadAgentList(f"{item!r}: give each node's agents as host:port or host:first-last")
        first, _, last = ports.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise BadAgentList(f"{item!r}: the ports must be numbers, as 5061 or 5061-5069") from None
        if not 0 < low <= high <= 65535 or high - low >= 1000:
            raise BadAgentList(f"{item!r}: a range of 1 to 1000 ports between 1 and 65535")
        for port in range(low, high + 1):
            agents[RemoteAgent(host.strip("[]"), port)] = None
    return list(agents)


def describe_agents(agents: list[RemoteAgent]) -> str:
    """The agents as `parse_agents` reads them, ranges folded: `10.0.0.2:5061-5069`."""
    runs: list[tuple[str, int, int]] = []
    for agent in agents:
        if runs and runs[-1][0] == agent.host and runs[-1][2] == agent.port - 1:
            runs[-1] = (agent.host, runs[-1][1], agent.port)
        else:
            runs.append((agent.host, agent.port, agent.port))
    return ",".join(f"{h}:{a}" if a == b else f"{h}:{a}-{b}" for h, a, b in runs)
