"""Use cases of calls: a call arrives, is answered, ends, is marked; a caller's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from cad import clock
from cad.domain.actors import Person, actor_of
from cad.domain.calls import (
    FLAGGING_DISPOSITIONS,
    CallDisposition,
    CallState,
    Channel,
    change_call_state,
    end_state,
    normalise_phone,
)
from cad.domain.errors import InvalidInput, NotFound
from cad.domain.timeline import EventKind
from cad.events import publish_after_commit
from cad.models import Call, Caller, CallerFlag, Incident
from cad.timeline import record_event

#: The network withheld the number: the call has no caller record.
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Fix:
    """A caller's location as it arrived, with where it came from."""

    lat: float
    lon: float
    accuracy_m: float | None
    source: str
    at: datetime | None = None


def phone_or_error(raw: str, field: str) -> str:
    try:
        return normalise_phone(raw)
    except ValueError as error:
        raise InvalidInput(str(error), field) from None


_DIALECT_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def caller_for(session: Session, phone: str, name: str | None = None) -> Caller:
    """The caller with this (normalised) number, created on first contact.

    A handset's AML text and its voice call (or Twilio's retry and the first attempt) can reach
    the centre at the same moment: the row is made with INSERT … ON CONFLICT DO NOTHING, so the
    second request finds the first one's caller instead of failing on the unique number."""
    caller = session.scalar(select(Caller).where(Caller.phone == phone))
    if caller is None:
        insert = _DIALECT_INSERT[session.get_bind().dialect.name]
        session.execute(
            insert(Caller)
            .values(phone=phone, name=name, first_seen_at=clock.now())
            .on_conflict_do_nothing(index_elements=["phone"])
        )
        caller = session.scalars(select(Caller).where(Caller.phone == phone)).one()
    if name and not caller.name:
        caller.name = name
    return caller


def register_call(
    session: Session,
    *,
    phone: str,
    channel: Channel,
    name: str | None = None,
    fix: Fix | None = None,
    sip_call_id: str | None = None,
    received_at: datetime | None = None,
    actor: str = "system",
    commit: bool = True,
    state: CallState = CallState.RINGING,
) -> Call:
    """A new call, ringing. Idempotent on the SIP Call-ID. `commit=False` leaves the
    transaction open for the caller's own use case to finish."""
    if sip_call_id:
        existing = session.scalar(select(Call).where(Call.sip_call_id == sip_call_id))
        if existing is not None:
            return existing
    caller = caller_for(session, phone, name) if phone != ANONYMOUS else None  # no history to share
    call = Call(
        caller=caller,
        channel=channel,
        state=state,
        sip_call_id=sip_call_id,
        received_at=received_at or clock.now(),
    )
    _place(call, fix)
    session.add(call)
    session.flush()
    record_event(
        session,
        EventKind.CALL_RECEIVED,
        at=call.received_at,
        actor=actor,
        call_id=call.id,
        source=str(channel),
        data={"phone": phone},
    )
    publish_after_commit(session, "call", {"id": call.id, "state": call.state, "phone": phone})
    if commit:
        session.commit()
    return call


def _place(call: Call, fix: Fix | None) -> None:
    if fix is not None:
        call.lat, call.lon, call.location_accuracy_m = fix.lat, fix.lon, fix.accuracy_m
        call.location_source, call.located_at = fix.source, fix.at or clock.now()


def get_call(session: Session, call_id: int, field: str = "call_id") -> Call:
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound(f"no call {call_id}", field)
    return call


def answer_call(session: Session, call_id: int, user: Person) -> Call:
    call = get_call(session, call_id)
    take_call(session, call, user)
    session.commit()
    return call


def take_call(session: Session, call: Call, user: Person) -> None:
    """`user` has the call now: answered, on its timeline, and every console told (it stops
    ringing on all of them). Not committed: the caller's use case commits."""
    call.state = change_call_state(call.state, CallState.ANSWERED)
    call.answered_at, call.answered_by_id = clock.now(), user.id
    record_event(session, EventKind.CALL_ANSWERED, at=call.answered_at, actor=actor_of(user), call_id=call.id)
    publish_after_commit(session, "call", {"id": call.id, "state": call.state})


def end_call(session: Session, call_id: int, actor: str) -> Call:
    """The line hangs up: `ended` once answered, `abandoned` if nobody picked up."""
    call = get_call(session, call_id)
    call.state = end_state(call.state)
    call.ended_at = clock.now()
    kind = EventKind.CALL_ABANDONED if call.state is CallState.ABANDONED else EventKind.CALL_ENDED
    record_event(session, kind, at=call.ended_at, actor=actor, call_id=call.id, incident_id=call.incident_id)
    publish_after_commit(session, "call", {"id": call.id, "state": call.state})
    session.commit()
    return call


def set_disposition(
    session: Session, call_id: int, disposition: CallDisposition, note: str | None, user: Person
) -> Call:
    """Say what the call was; prank and ghost calls flag the caller's number for next time."""
    call = get_call(session, call_id)
    if disposition is CallDisposition.INCIDENT and call.incident_id is None:
        raise InvalidInput("a call becomes 'incident' by creating or linking an incident", "disposition")
    call.disposition = disposition
    if note:
        call.notes = note
    if disposition in FLAGGING_DISPOSITIONS and call.caller_id is not None:
        session.add(
            CallerFlag(
                caller_id=call.caller_id,
                call_id=call.id,
                kind=disposition,
                note=note,
                at=clock.now(),
                by_user_id=user.id,
            )
        )
    record_event(
        session,
        EventKind.CALL_FLAGGED,
        actor=actor_of(user),
        call_id=call.id,
        data={"disposition": str(disposition), "note": note},
    )
    publish_after_commit(session, "call", {"id": call.id, "disposition": disposition})
    session.commit()
    return call


@dataclass(frozen=True)
class CallerRecord:
    caller: Caller
    calls_total: int
    flags: list[CallerFlag]
    earlier_calls: list[tuple[Call, str | None]]


def caller_history(
    session: Session, caller: Caller, *, exclude_call_id: int | None = None, recent: int = 10
) -> CallerRecord:
    """What the centre knows of this number: how often it called, what it was flagged, lately."""
    total = session.scalar(select(func.count(Call.id)).where(Call.caller_id == caller.id)) or 0
    flags = list(
        session.scalars(select(CallerFlag).where(CallerFlag.caller_id == caller.id).order_by(CallerFlag.at.desc()))
    )
    query = (
        select(Call, Incident.number)
        .outerjoin(Incident, Incident.id == Call.incident_id)
        .where(Call.caller_id == caller.id)
        .order_by(Call.received_at.desc(), Call.id.desc())
        .limit(recent)
    )
    if exclude_call_id is not None:
        query = query.where(Call.id != exclude_call_id)
    earlier = [(row[0], row[1]) for row in session.execute(query)]
    return CallerRecord(caller, total, flags, earlier)


def list_calls(session: Session, state: str | None, limit: int, before_id: int | None = None) -> list[Call]:
    """Newest first (by id: the order they reached the centre); `before_id` pages back."""
    query = select(Call).options(selectinload(Call.caller)).order_by(Call.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(Call.id < before_id)
    if state == "active":
        query = query.where(Call.state.in_([CallState.WAITING, CallState.RINGING, CallState.ANSWERED]))
    elif state:
        query = query.where(Call.state == CallState(state))
    return list(session.scalars(query))


def caller_record_by_phone(session: Session, phone: str) -> CallerRecord:
    caller = session.scalar(select(Caller).where(Caller.phone == phone))
    if caller is None:
        raise NotFound(f"the number {phone} has never called", "phone")
    return caller_history(session, caller)
