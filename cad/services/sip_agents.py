"""The SIP agents the centre hears, and the calls of those it stopped hearing.

Each agent's poll (`POST /telephony/sip/outbox/claim` with its name, held until a reply is queued:
`claim_outbox_waiting`) is recorded here, and the same request closes the calls of agents gone
silent (`cad.domain.sip_agents` says which), when it arrives and every few seconds while held: any
live agent on any node keeps the sweep going, so a node that dies has its calls closed by the other
node's agents, with no process of its own to run. A dead agent is swept again every `silent_s`
for an hour, so a call its courier delivered after the first sweep is closed too. Two polls sweeping
at once cannot close a call twice: the agent is claimed first with a conditional UPDATE, and only
the poll that claimed it closes its calls (under a row lock on each call).
"""

from __future__ import annotations

import logging
import queue
import time
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from cad import clock
from cad.domain.calls import AGENT_DIED, OPEN_CALL_STATES, CallState, change_call_state
from cad.domain.sip_agents import AgentHeard, dead_agents, heard_since
from cad.domain.timeline import EventKind
from cad.events import Audience, Change, EventBus, publish_after_commit
from cad.models import Call, Message, SipAgentSeen
from cad.services.intake import claim_sip_outbox
from cad.timeline import record_event

log = logging.getLogger(__name__)


def _heard(row: SipAgentSeen) -> AgentHeard:
    return AgentHeard(row.name, row.last_seen_at, row.heard_since, row.swept_at)


def agent_heard(session: Session, name: str, now: datetime, silent_s: float) -> None:
    """An agent polled: it is alive now. Committed."""
    row = session.get(SipAgentSeen, name)
    if row is None:
        session.add(SipAgentSeen(name=name, last_seen_at=now, heard_since=now))
    else:
        row.heard_since = heard_since(_heard(row), now, silent_s)
        row.last_seen_at = max(row.last_seen_at, now)
    try:
        session.commit()
    except sa.exc.IntegrityError:  # its first two polls at once: the other one made the row
        session.rollback()


def drop_calls_of_silent_agents(session: Session, now: datetime, silent_s: float) -> list[Call]:
    """Close, as `dropped`, the open calls of every agent silent for longer than `silent_s`. Committed."""
    heard = {row.name: _heard(row) for row in session.scalars(select(SipAgentSeen))}
    dropped: list[Call] = []
    for name in dead_agents(heard.values(), now, silent_s):
        last_seen = heard[name].last_seen_at
        claimed = session.execute(
            sa.update(SipAgentSeen)
            .where(
                SipAgentSeen.name == name,
                SipAgentSeen.last_seen_at == last_seen,
                sa.or_(SipAgentSeen.swept_at.is_(None), SipAgentSeen.swept_at <= now - timedelta(seconds=silent_s)),
            )
            .values(swept_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            session.rollback()
            continue  # another poll is closing them, or the agent spoke again
        calls = session.scalars(
            select(Call)
            .where(Call.sip_agent == name, Call.state.in_(OPEN_CALL_STATES))
            .order_by(Call.id)
            .with_for_update()
        ).all()
        silent = round((now - last_seen).total_seconds(), 1)
        for call in calls:
            _drop(session, call, now, {"reason": AGENT_DIED, "agent": name, "silent_s": silent, "by": "centre"})
        session.commit()
        if calls:
            log.warning(
                "SIP agent %s silent for %.1f s (last heard %s): %d calls it held closed as dropped",
                name,
                silent,
                last_seen.isoformat(),
                len(calls),
            )
        dropped.extend(calls)
    session.rollback()  # nothing was claimed: end the read
    return dropped


def _drop(session: Session, call: Call, at: datetime, data: dict[str, object]) -> None:
    call.state = change_call_state(call.state, CallState.DROPPED)
    call.ended_at = at
    record_event(
        session, EventKind.CALL_DROPPED, at=at, actor="sip", call_id=call.id, incident_id=call.incident_id, data=data
    )
    publish_after_commit(session, "call", {"id": call.id, "state": call.state})


#: While a poll is held, the outbox is read again and silent agents swept this often: the event bus wakes
#: the poll the moment a reply is queued, so this only bounds the wait for a change the bus did not carry.
RECHECK_S = 2.0


def claim_outbox_waiting(
    session: Session,
    hold_s: float,
    bus: EventBus,
    *,
    sweep_silent_s: float | None = None,
    recheck_s: float = RECHECK_S,
) -> list[Message]:
    """The replies waiting to go out as SIP MESSAGE, each claimed for this poll only; when there are
    none, wait up to `hold_s` for one to be queued (a long poll: the agent asks again at once, so an idle
    agent costs a request every `hold_s`, not one a second; `bus`, the app's, says when). With
    `sweep_silent_s`, the calls of agents silent that long are closed every `recheck_s` meanwhile, as
    every poll's arrival does. Holds no database connection while it waits."""
    if hold_s <= 0:
        return claim_sip_outbox(session)
    deadline = time.monotonic() + hold_s
    listener = bus.subscribe(Audience())  # before the first read: a reply queued after it wakes us
    try:
        while True:
            claimed = claim_sip_outbox(session)
            remaining = deadline - time.monotonic()
            if claimed or remaining <= 0 or listener.behind:
                return claimed
            if _reply_queued(listener.queue, min(remaining, recheck_s)) is None:
                return []  # the centre is closing
            if sweep_silent_s is not None:
                drop_calls_of_silent_agents(session, clock.now(), sweep_silent_s)
    finally:
        bus.unsubscribe(listener)


def _reply_queued(changes: queue.Queue[Change | None], timeout_s: float) -> bool | None:
    """Wait up to `timeout_s` for an outbound message's change; None when the bus closes."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            change = changes.get(timeout=left)
        except queue.Empty:
            return False
        if change is None:
            return None
        if change.kind == "message" and change.data.get("direction") == "out":
            return True
    return False
