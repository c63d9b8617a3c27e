"""When the centre may say a SIP agent is dead (pure).

Every agent polls the centre once a second (`POST /telephony/sip/outbox/claim`, naming itself), and
that poll is its heartbeat. An agent silent for `silent_s` is dead, and the calls it held are closed on
record as `dropped`: its node died (a machine lost, a network cut), and nobody is left to send the
hang-up its journal would have sent after a restart.

Silence alone is not proof: when the centre itself (or its database) was away, every agent fell
silent at once, and the first poll after the return would find all the others "dead". So the centre
judges only while it has been listening: some agent must have been heard without a gap longer than
`silent_s` for at least `silent_s`, and still be heard. After an outage every streak starts again,
and no agent is judged until the live ones have had `silent_s` to speak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Seconds an agent may go unheard before its calls are closed (WARROOM_SIP_AGENT_SILENT_S): ten polls.
AGENT_SILENT_S = 10.0
#: An agent silent this long is no longer swept: whatever it held was closed long ago.
FORGET_S = 3600.0


@dataclass(frozen=True)
class AgentHeard:
    name: str
    last_seen_at: datetime
    heard_since: datetime  # the start of its current unbroken run of polls
    swept_at: datetime | None = None  # when its open calls were last closed


def heard_since(previous: AgentHeard | None, now: datetime, silent_s: float) -> datetime:
    """Where the agent's run of polls starts, given a poll now: a poll after a silence longer than
    `silent_s` (or its first) starts a new one."""
    if previous is None or now - previous.last_seen_at > timedelta(seconds=silent_s):
        return now
    return previous.heard_since


def listening(agents: Iterable[AgentHeard], now: datetime, silent_s: float) -> bool:
    """Whether the centre has been hearing agents long enough to call a silence death: one of them
    heard without a break for `silent_s`, and lately."""
    window = timedelta(seconds=silent_s)
    return any(a.heard_since <= now - window and a.last_seen_at >= now - window for a in agents)


def dead_agents(agents: Iterable[AgentHeard], now: datetime, silent_s: float, forget_s: float = FORGET_S) -> list[str]:
    """The agents whose open calls are to be closed now, longest silent first: silent for longer than
    `silent_s`, and not swept in the last `silent_s` (so a call a dead agent's courier delivered late
    is closed too, a sweep later); none while the centre has not been listening. An agent silent for
    longer than `forget_s` is left alone (a node taken away for good, its calls long closed)."""
    agents = list(agents)
    if not listening(agents, now, silent_s):
        return []
    window = timedelta(seconds=silent_s)
    silent = [
        a
        for a in agents
        if now - timedelta(seconds=forget_s) <= a.last_seen_at < now - window
        and (a.swept_at is None or a.swept_at <= now - window)
    ]
    return [a.name for a in sorted(silent, key=lambda a: a.last_seen_at)]
