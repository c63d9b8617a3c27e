"""When the centre may say a SIP agent is dead (pure).

Every agent polls the centre for the replies it is to send (`POST /telephony/sip/outbox/claim`,
naming itself), and that poll is its heartbeat. The centre holds a poll until a reply is queued, at
most half of `silent_s` (`outbox_hold_s`), and the agent polls again at once: a live agent is heard
at least twice in every `silent_s`, and an idle one sends a request every `silent_s / 2` instead of
one a second. Silence counts from the start of the last poll heard, up to `silent_s / 2` before the
death. An agent silent for `silent_s` is dead, and the calls it held are closed on
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

#: Seconds an agent may go unheard before its calls are closed (WARROOM_SIP_AGENT_SILENT_S): two held polls.
AGENT_SILENT_S = 10.0
#: The longest the centre holds a poll, whatever `silent_s` (a proxy in front may time out an idle request).
MAX_HOLD_S = 25.0
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


def outbox_hold_s(asked_s: float, silent_s: float) -> float:
    """How long the centre may hold an agent's poll waiting for a reply to send: what the agent asked,
    at most half of `silent_s` (its next poll, sent as this one returns, is heard well within the
    silence the centre allows) and MAX_HOLD_S."""
    return max(0.0, min(asked_s, silent_s / 2, MAX_HOLD_S))
