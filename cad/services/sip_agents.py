"""The SIP agents the centre hears, and the calls of those it stopped hearing.

Each agent's once-a-second poll (`POST /telephony/sip/outbox/claim` with its name) is recorded here,
and the same request closes the calls of agents gone silent (`cad.domain.sip_agents` says which): any
live agent on any node keeps the sweep going, so a node that dies has its calls closed by the other
node's agents, with no process of its own to run. A dead agent is swept again every `silent_s`
for an hour, so a call its courier delivered after the first sweep is closed too. Two polls sweeping
at once cannot close a call twice: the agent is claimed first with a conditional UPDATE, and only
the poll that claimed it closes its calls (under a row lock on each call).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.orm import Session

from cad.domain.calls import AGENT_DIED, OPEN_CALL_STATES, CallState, change_call_state
from cad.domain.sip_agents import AgentHeard, dead_agents, heard_since
from cad.domain.timeline import EventKind
from cad.events import publish_after_commit
from cad.models import Call, SipAgentSeen
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
