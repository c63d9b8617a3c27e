"""Intake: what the SIP agent and the SMS webhook report, turned into calls and conversations.

Every function is idempotent on the identifier the network gives (SIP Call-ID, Twilio
MessageSid), because both the SIP agent's journal and Twilio deliver at least once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cad import clock
from cad.domain.actors import Person
from cad.domain.calls import (
    AGENT_DIED,
    OPEN_CALL_STATES,
    CallState,
    Channel,
    MessageDirection,
    MessageKind,
    change_call_state,
    end_state,
)
from cad.domain.errors import Conflict, InvalidInput, NotFound
from cad.domain.timeline import EventKind
from cad.events import publish_after_commit
from cad.models import Call, Caller, Incident, Message, TimelineEvent
from cad.services.calls import ANONYMOUS, Fix, caller_for, get_call, register_call, take_call
from cad.timeline import record_event

#: A text that arrives this long after the last one of an open conversation starts a new one.
CONVERSATION_IDLE = timedelta(hours=2)


def storable(text: str) -> str:
    """What arrives from a phone is kept whatever it holds; only NUL, which no database column
    takes, becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


@dataclass(frozen=True)
class InboundText:
    channel: Channel
    external_id: str
    phone: str
    body: str
    received_at: datetime
    peer: str | None = None  # where replies go (a SIP contact URI, or the number)


@dataclass(frozen=True)
class CallExtras:
    """What a voice call carried beyond the columns: header values too long for them (whole), and
    a location by reference (RFC 6442)."""

    overlong: dict[str, str] = field(default_factory=dict)
    location_ref: str | None = None


@dataclass(frozen=True)
class TextOutcome:
    call: Call
    message: Message
    duplicate: bool
    new_conversation: bool


def voice_call_received(
    session: Session,
    *,
    sip_call_id: str,
    phone: str,
    name: str | None,
    received_at: datetime,
    fix: Fix | None,
    address: str | None,
    contact: str | None,
    location_note: str | None,
    queued: bool = False,
    extras: CallExtras | None = None,
    agent: str | None = None,
) -> Call:
    """A 112 INVITE reached the agent (`queued`: every agent was full, the caller waits in the
    queue; `agent`: the one holding it, whose death drops it). Idempotent on the SIP Call-ID; a second
    report of the call (the proxy's copy of a big INVITE, whose location the agent could not receive,
    sent as `queued` until an agent reports it) fills in what the first one lacked."""
    existing = session.scalar(select(Call).where(Call.sip_call_id == sip_call_id))
    if existing is not None:
        changed = False
        if agent and existing.state in OPEN_CALL_STATES:
            existing.sip_agent = agent  # the agent that has it now (the proxy's copy names none)
        if existing.state is CallState.WAITING and not queued:  # an agent has it now (the proxy's copy came first)
            existing.state = change_call_state(existing.state, CallState.RINGING)
            changed = True
        if _fill_in(existing, fix, address, extras, name):
            changed = True
            record_event(
                session,
                EventKind.CALL_LOCATED,
                actor="sip",
                call_id=existing.id,
                incident_id=existing.incident_id,
                source="pidf-lo",
                data={"lat": existing.lat, "lon": existing.lon, "accuracy_m": existing.location_accuracy_m},
            )
        if changed:
            publish_after_commit(session, "call", {"id": existing.id, "state": existing.state})
        session.commit()
        return existing
    state = CallState.WAITING if queued else CallState.RINGING
    call = _new_voice_call(session, sip_call_id, phone, name, received_at, fix, address, state, extras)
    call.sip_contact = contact
    call.sip_agent = agent
    if location_note:
        record_event(
            session,
            EventKind.CALL_LOCATED,
            actor="sip",
            call_id=call.id,
            source="pidf-lo",
            data={"warning": location_note},
        )
    session.commit()
    return call


def _keep_extras(call: Call, extras: CallExtras | None) -> None:
    if extras is None:
        return
    if extras.overlong:
        kept = json.loads(call.sip_headers) if call.sip_headers else {}
        call.sip_headers = json.dumps({**extras.overlong, **kept}, ensure_ascii=False)
    if extras.location_ref and not call.location_ref:
        call.location_ref = extras.location_ref


def _fill_in(call: Call, fix: Fix | None, address: str | None, extras: CallExtras | None, name: str | None) -> bool:
    """Complete a call from a later report of it; True when it gained a location."""
    _keep_extras(call, extras)
    if name and call.caller is not None and not call.caller.name:
        call.caller.name = name
    located = False
    if fix is not None and call.lat is None:
        call.lat, call.lon, call.location_accuracy_m = fix.lat, fix.lon, fix.accuracy_m
        call.location_source, call.located_at = fix.source, fix.at or clock.now()
        located = True
        incident = call.incident
        if incident is not None and incident.lat is None:
            incident.lat, incident.lon, incident.location_accuracy_m = fix.lat, fix.lon, fix.accuracy_m
            incident.location_source = fix.source
    if address and not call.location_address:
        call.location_address = address[:255]
        located = True
    return located


def _new_voice_call(
    session: Session,
    sip_call_id: str,
    phone: str,
    name: str | None,
    received_at: datetime,
    fix: Fix | None,
    address: str | None,
    state: CallState,
    extras: CallExtras | None,
) -> Call:
    """A voice call the SIP agents report, in `state`, its civic address and extras kept; not committed."""
    call = register_call(
        session,
        phone=phone,
        channel=Channel.VOICE,
        name=name,
        fix=fix,
        sip_call_id=sip_call_id,
        received_at=received_at,
        actor="sip",
        commit=False,
        state=state,
    )
    if address and not call.location_address:
        call.location_address = address[:255]
    _keep_extras(call, extras)
    return call


def voice_call_connected(session: Session, *, sip_call_id: str, at: datetime) -> Call | None:
    """A queued caller got an agent: `waiting` becomes `ringing` for the call-takers. Repeats are no-ops."""
    call = session.scalar(select(Call).where(Call.sip_call_id == sip_call_id))
    if call is None or call.state is not CallState.WAITING:
        return call
    call.state = change_call_state(call.state, CallState.RINGING)
    record_event(session, EventKind.CALL_CONNECTED, at=at, actor="sip", call_id=call.id)
    publish_after_commit(session, "call", {"id": call.id, "state": call.state})
    session.commit()
    return call


def voice_call_overflowed(
    session: Session,
    *,
    sip_call_id: str,
    phone: str,
    name: str | None,
    received_at: datetime,
    fix: Fix | None,
    address: str | None,
    target: str,
    extras: CallExtras | None = None,
) -> Call:
    """Every agent was full and the caller was redirected to the overflow centre: on record as
    `overflowed`, with where it went. Idempotent on the SIP Call-ID."""
    call = session.scalar(select(Call).where(Call.sip_call_id == sip_call_id))
    if call is None:
        call = _new_voice_call(
            session, sip_call_id, phone, name, received_at, fix, address, CallState.OVERFLOWED, extras
        )
    elif call.state is CallState.WAITING:
        call.state = change_call_state(call.state, CallState.OVERFLOWED)
    else:
        return call
    call.ended_at = received_at
    record_event(session, EventKind.CALL_OVERFLOWED, at=received_at, actor="sip", call_id=call.id, data={"to": target})
    publish_after_commit(session, "call", {"id": call.id, "state": call.state})
    session.commit()
    return call


def voice_call_ended(session: Session, *, sip_call_id: str, ended_at: datetime, reason: str) -> Call | None:
    """BYE or CANCEL: `ended` after a call-taker answered, `abandoned` before; `dropped` when the agent
    reports, after a restart, that it died holding the call (`agent_died`). Repeats are no-ops; the
    agent's own report of a call the centre had already dropped for its silence is kept on the timeline."""
    call = session.scalar(select(Call).where(Call.sip_call_id == sip_call_id).with_for_update())
    if (
        call is not None
        and call.state is CallState.DROPPED
        and call.sip_agent
        and reason != AGENT_DIED
        and not _has_event(session, call.id, EventKind.CALL_ENDED)  # the journal delivers at least once
    ):
        # the agent was not dead after all (cut off from the centre): what it saw is on record too
        record_event(
            session,
            EventKind.CALL_ENDED,
            at=ended_at,
            actor="sip",
            call_id=call.id,
            incident_id=call.incident_id,
            data={"reason": reason, "after": "dropped", "agent": call.sip_agent},
        )
        session.commit()
        return call
    if call is None or call.state not in OPEN_CALL_STATES:
        session.rollback()
        return call
    call.state = end_state(call.state, reason)
    call.ended_at = ended_at
    kind = {CallState.ABANDONED: EventKind.CALL_ABANDONED, CallState.DROPPED: EventKind.CALL_DROPPED}.get(
        call.state, EventKind.CALL_ENDED
    )
    data: dict[str, object] = {"reason": reason}
    if call.state is CallState.DROPPED:
        data.update({"agent": call.sip_agent, "by": "agent journal"})
    record_event(session, kind, at=ended_at, actor="sip", call_id=call.id, incident_id=call.incident_id, data=data)
    publish_after_commit(session, "call", {"id": call.id, "state": call.state})
    session.commit()
    return call


def _has_event(session: Session, call_id: int, kind: EventKind) -> bool:
    return (
        session.scalar(
            select(TimelineEvent.id).where(TimelineEvent.call_id == call_id, TimelineEvent.kind == str(kind)).limit(1)
        )
        is not None
    )


def text_received(session: Session, text: InboundText, *, commit: bool = True) -> TextOutcome:
    """An SMS or SIP MESSAGE: stored once, in the sender's open conversation (or a new one).

    Texts from one number are taken one at a time (`hold_sender`), so a burst from a new number,
    or Twilio's retries racing the first try, find the conversation and the message the first one
    stored. `commit=False` keeps the sender held until the caller's use case commits (the SMS
    webhook opens the conversation's incident in the same transaction)."""
    if text.phone != ANONYMOUS:
        hold_sender(session, text.phone)
    existing = session.scalar(select(Message).where(Message.external_id == text.external_id))
    if existing is not None:
        first_id = session.scalar(select(sa.func.min(Message.id)).where(Message.call_id == existing.call_id))
        # a retry is answered as the original was: "new conversation" if it opened one
        return TextOutcome(session.get_one(Call, existing.call_id), existing, True, first_id == existing.id)
    call = open_conversation(session, text.phone, text.channel, text.received_at)
    new = call is None
    if call is None:
        call = register_call(
            session,
            phone=text.phone,
            channel=text.channel,
            received_at=text.received_at,
            actor=str(text.channel),
            commit=False,
        )
    if text.peer:
        call.sip_contact = text.peer
    message = Message(
        call_id=call.id,
        direction=MessageDirection.INBOUND,
        kind=MessageKind.TEXT,
        channel=text.channel,
        body=storable(text.body),
        external_id=text.external_id,
        peer=text.peer,
        status="received",
        at=text.received_at,
    )
    session.add(message)
    session.flush()
    publish_after_commit(session, "message", {"id": message.id, "call_id": call.id, "direction": "in"})
    if commit:
        session.commit()
    return TextOutcome(call, message, False, new)


def hold_sender(session: Session, phone: str) -> None:
    """Hold this number's caller row for the rest of the transaction, creating it on first contact.

    One statement for both databases: the upsert's DO UPDATE row-locks the caller on PostgreSQL
    (a second text from the number waits here until the first commits, then reads what it stored),
    and on SQLite it is the transaction's first write, which takes the database's write lock
    before the conversation is looked up: no read-then-insert window on either."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(Caller).values(phone=phone, first_seen_at=clock.now())
    session.execute(statement.on_conflict_do_update(index_elements=["phone"], set_={"phone": statement.excluded.phone}))


def open_conversation(session: Session, phone: str, channel: Channel, at: datetime) -> Call | None:
    """The sender's conversation still open on this channel, unless it has gone quiet."""
    call = session.scalar(
        select(Call)
        .join(Caller)
        .where(Caller.phone == phone, Call.channel == channel, Call.state.in_(OPEN_CALL_STATES))
        .order_by(Call.received_at.desc())
        .limit(1)
    )
    if call is None:
        return None
    last = session.scalar(select(Message.at).where(Message.call_id == call.id).order_by(Message.at.desc()).limit(1))
    if at - (last or call.received_at) > CONVERSATION_IDLE:
        return None
    return call


def handset_located(
    session: Session,
    *,
    external_id: str,
    phone: str,
    body: str,
    fix: Fix | None,
    received_at: datetime,
    channel: Channel = Channel.SMS,
) -> tuple[Call | None, bool]:
    """An AML report: the location goes to the caller's newest open call (voice first), the
    report is kept with it but never shown as chat. Returns (call, duplicate)."""
    if session.scalar(select(Message.id).where(Message.external_id == external_id)) is not None:
        return None, True
    caller = caller_for(session, phone)
    call = session.scalar(
        select(Call)
        .where(Call.caller_id == caller.id, Call.state.in_(OPEN_CALL_STATES))
        .order_by((Call.channel == Channel.VOICE).desc(), Call.received_at.desc())
        .limit(1)
    )
    if call is None:  # AML usually follows the voice call; keep it on the number's latest call
        call = session.scalar(
            select(Call).where(Call.caller_id == caller.id).order_by(Call.received_at.desc()).limit(1)
        )
    if call is None:
        call = register_call(session, phone=phone, channel=channel, received_at=received_at, actor="aml", commit=False)
    if fix is not None and (call.located_at is None or fix.at is None or fix.at >= call.located_at):
        call.lat, call.lon, call.location_accuracy_m = fix.lat, fix.lon, fix.accuracy_m
        call.location_source, call.located_at = fix.source, fix.at or received_at
        incident = session.get(Incident, call.incident_id) if call.incident_id else None
        if incident is not None and incident.lat is None:  # the text came first: its incident is placed now
            incident.lat, incident.lon, incident.location_accuracy_m = fix.lat, fix.lon, fix.accuracy_m
            incident.location_source = fix.source
            publish_after_commit(session, "incident", {"id": incident.id, "located": True})
    session.add(
        Message(
            call_id=call.id,
            direction=MessageDirection.INBOUND,
            kind=MessageKind.AML,
            channel=channel,
            body=storable(body),
            external_id=external_id,
            status="received",
            at=received_at,
        )
    )
    record_event(
        session,
        EventKind.CALL_LOCATED,
        at=received_at,
        actor="aml",
        call_id=call.id,
        incident_id=call.incident_id,
        source="aml",
        data={
            "lat": fix.lat,
            "lon": fix.lon,
            "accuracy_m": fix.accuracy_m,
            "fix_at": fix.at.isoformat() if fix.at else None,
        }
        if fix
        else {"fix": None},
    )
    publish_after_commit(session, "call", {"id": call.id, "located": fix is not None})
    session.commit()
    return call, False


def reply(session: Session, call_id: int, body: str, user: Person) -> Message:
    """A call-taker's answer in a text conversation, queued for the channel it came on."""
    call = get_call(session, call_id)
    if call.channel not in (Channel.SMS, Channel.SIP_MESSAGE):
        raise InvalidInput(f"call {call.id} is a {call.channel} call, not a text conversation", "call_id")
    peer = call.sip_contact if call.channel is Channel.SIP_MESSAGE else (call.caller.phone if call.caller else None)
    if not peer:
        raise Conflict(f"call {call.id} has nowhere to send a reply to", "call_id")
    if call.state is CallState.RINGING:  # replying is taking the conversation: it stops ringing everywhere
        take_call(session, call, user)
    message = Message(
        call_id=call.id,
        direction=MessageDirection.OUTBOUND,
        kind=MessageKind.TEXT,
        channel=call.channel,
        body=body,
        peer=peer,
        status="queued",
        at=clock.now(),
        by_user_id=user.id,
    )
    session.add(message)
    session.flush()
    publish_after_commit(session, "message", {"id": message.id, "call_id": call.id, "direction": "out"})
    session.commit()
    return message


def record_delivery(session: Session, message_id: int, status: str, external_id: str | None = None) -> Message:
    message = session.get(Message, message_id)
    if message is None or message.direction is not MessageDirection.OUTBOUND:
        raise NotFound(f"no outbound message {message_id}", "message_id")
    message.status = status[:16]
    if external_id:
        message.external_id = external_id
    # the consoles redraw the conversation: a reply nobody received shows as not delivered
    publish_after_commit(session, "message", {"id": message.id, "call_id": message.call_id, "direction": "out"})
    session.commit()
    return message


def claim_sip_outbox(session: Session, limit: int = 20) -> list[Message]:
    """Queued SIP MESSAGE replies, each claimed by exactly one agent (conditional UPDATE)."""
    ids = list(
        session.scalars(
            select(Message.id)
            .where(
                Message.direction == MessageDirection.OUTBOUND,
                Message.channel == Channel.SIP_MESSAGE,
                Message.status == "queued",
            )
            .order_by(Message.id)
            .limit(limit)
        )
    )
    claimed = []
    for message_id in ids:
        taken = session.execute(
            sa.update(Message)
            .where(Message.id == message_id, Message.status == "queued")
            .values(status="sending")
            .execution_options(synchronize_session=False)
        ).rowcount
        if taken == 1:
            claimed.append(message_id)
    session.commit()
    return [session.get_one(Message, i) for i in claimed]


def conversation(session: Session, call_id: int) -> list[Message]:
    """The chat of a call: texts both ways, oldest first (AML reports are not chat)."""
    get_call(session, call_id)
    return list(
        session.scalars(
            select(Message)
            .where(Message.call_id == call_id, Message.kind == MessageKind.TEXT)
            .order_by(Message.at, Message.id)
        )
    )
