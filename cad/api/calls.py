"""Calls and callers: the call-taker's side."""

from __future__ import annotations

from typing import Any

from flask import current_app

from cad.api import api, render
from cad.api import schemas as s
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person, actor_of
from cad.domain.calls import Channel
from cad.models import Role
from cad.services import calls, intake, intake_failures
from cad.services.calls import Fix

TAKERS = (Role.CALL_TAKER, Role.DISPATCHER, Role.ADMIN)
READERS = (Role.CALL_TAKER, Role.DISPATCHER, Role.MANAGER, Role.ADMIN)


def _with_history(call: Any) -> dict[str, Any]:
    history = calls.caller_history(db.session, call.caller, exclude_call_id=call.id) if call.caller else None
    return render.call(call, history)


@operation(
    api, "/calls", "GET", summary="Calls, newest first", roles=READERS, query=s.CallFilter, response=list[s.CallOut]
)
def list_calls(user: Person, query: s.CallFilter) -> list[dict[str, Any]]:
    return [render.call(c, None) for c in calls.list_calls(db.session, query.state, query.limit, query.before_id)]


@operation(
    api,
    "/calls",
    "POST",
    summary="Log a call by hand (a line outside the SIP agent)",
    roles=TAKERS,
    body=s.CallCreate,
    response=s.CallOut,
    status=201,
)
def create_call(user: Person, body: s.CallCreate) -> dict[str, Any]:
    fix = None
    if body.location is not None:
        fix = Fix(body.location.lat, body.location.lon, body.location.accuracy_m, body.location.source)
    call = calls.register_call(
        db.session,
        phone=calls.phone_or_error(body.phone, "phone"),
        channel=body.channel,
        name=body.name,
        fix=fix,
        actor=actor_of(user),
    )
    return _with_history(call)


@operation(
    api,
    "/calls/<int:call_id>",
    "GET",
    summary="One call, with the caller's history",
    roles=READERS,
    response=s.CallOut,
    errors=(404,),
)
def get_call(user: Person, call_id: int) -> dict[str, Any]:
    return _with_history(calls.get_call(db.session, call_id))


@operation(
    api,
    "/calls/<int:call_id>/answer",
    "POST",
    summary="A call-taker picks up",
    roles=TAKERS,
    response=s.CallOut,
    errors=(404, 409),
)
def answer_call(user: Person, call_id: int) -> dict[str, Any]:
    return _with_history(calls.answer_call(db.session, call_id, user))


@operation(
    api,
    "/calls/<int:call_id>/end",
    "POST",
    summary="The call ends",
    roles=TAKERS,
    response=s.CallOut,
    errors=(404, 409),
)
def end_call(user: Person, call_id: int) -> dict[str, Any]:
    return _with_history(calls.end_call(db.session, call_id, actor_of(user)))


@operation(
    api,
    "/calls/<int:call_id>/disposition",
    "POST",
    summary="Say what the call was (prank and ghost flag the number)",
    roles=TAKERS,
    body=s.CallDispositionIn,
    response=s.CallOut,
    errors=(404,),
)
def set_disposition(user: Person, call_id: int, body: s.CallDispositionIn) -> dict[str, Any]:
    return _with_history(calls.set_disposition(db.session, call_id, body.disposition, body.note, user))


@operation(
    api,
    "/callers/<phone>",
    "GET",
    summary="What the centre knows of a phone number",
    roles=READERS,
    response=s.CallerHistory,
    errors=(400, 404),
)
def caller(user: Person, phone: str) -> dict[str, Any]:
    record = calls.caller_record_by_phone(db.session, calls.phone_or_error(phone, "phone"))
    return render.caller_history(record)


@operation(
    api,
    "/calls/<int:call_id>/messages",
    "GET",
    summary="The text conversation of a call",
    roles=READERS,
    response=list[s.MessageOut],
    errors=(404,),
)
def list_messages(user: Person, call_id: int) -> list[dict[str, Any]]:
    return [render.message(m) for m in intake.conversation(db.session, call_id)]


@operation(
    api,
    "/calls/<int:call_id>/messages",
    "POST",
    summary="Reply in a text conversation (SMS through Twilio, SIP MESSAGE through the agent)",
    roles=TAKERS,
    body=s.MessageCreate,
    response=s.MessageOut,
    status=201,
    errors=(404, 409),
)
def send_message(user: Person, call_id: int, body: s.MessageCreate) -> dict[str, Any]:
    message = intake.reply(db.session, call_id, body.body, user)
    if message.channel is Channel.SMS:  # after the commit: the record exists whatever Twilio says
        sent = current_app.extensions["warroom.sms"].send(message.peer, message.body)
        message = intake.record_delivery(db.session, message.id, sent.status, sent.sid)
    return render.message(message)


@operation(
    api,
    "/intake-failures",
    "GET",
    summary="Calls and texts taken but not recorded (an alert on the consoles until handled)",
    roles=READERS,
    response=list[s.IntakeFailureOut],
)
def list_intake_failures(user: Person) -> list[dict[str, Any]]:
    return [intake_failures.render(f) for f in intake_failures.open_failures(db.session)]


@operation(
    api,
    "/intake-failures/<int:failure_id>/resolve",
    "POST",
    summary="Mark an unrecorded call handled (the caller was called back)",
    roles=TAKERS,
    response=s.IntakeFailureOut,
    errors=(404,),
)
def resolve_intake_failure(user: Person, failure_id: int) -> dict[str, Any]:
    return intake_failures.render(intake_failures.resolve(db.session, failure_id, actor_of(user)))
