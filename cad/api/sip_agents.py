"""The centre's side of the SIP agents (`warroom sip`): `POST /telephony/sip/events` takes their
journal entries, `POST /telephony/sip/outbox/…` hands them the replies to send as SIP MESSAGE.

The agent authenticates with the shared intake token. A database that is down answers 503
(the agent keeps the entry and retries); an entry that can never be stored answers 4xx.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.exc import IntegrityError

from cad import clock
from cad.api.spec import parse_body
from cad.db import db
from cad.domain.calls import Channel, fitted, fitted_identifier
from cad.domain.sip_agents import outbox_hold_s
from cad.errors import Forbidden, InvalidInput, Unauthorized
from cad.services.calls import ANONYMOUS, Fix, phone_or_error
from cad.services.intake import (
    CallExtras,
    InboundText,
    record_delivery,
    storable,
    text_received,
    voice_call_connected,
    voice_call_ended,
    voice_call_overflowed,
    voice_call_received,
)
from cad.services.intake_failures import intake_failed, redelivered
from cad.services.sip_agents import agent_heard, claim_outbox_waiting, drop_calls_of_silent_agents

sip_agents = Blueprint("sip_agents", __name__, url_prefix="/telephony/sip")


class SipLocation(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)
    address: str | None = None
    method: str | None = None
    at: datetime | None = None


#: Columns the network's text lands in, and how long they are; a longer value is cut to fit and kept
#: whole beside the call (`calls.sip_headers`), never refused: the call is recorded whatever it carried.
FITS = {
    "phone": 32,
    "name": 120,
    "contact": 255,
    "target": 255,
    "reason": 32,
    "agent": 64,
    "location_warning": 500,
    "location_ref": 2048,
}
IDENTIFIERS = {"sip_call_id": 255, "external_id": 255}


class SipEvent(BaseModel):
    """A journal entry of a SIP agent. Whatever the caller's network put in it is taken: overlong
    values are fitted (the originals kept in `overlong`), an unusable location is dropped with a
    warning. Only what the agent itself writes (`id`, `kind`, times) can make it a 400."""

    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")
    id: str = Field(min_length=1, max_length=64)
    kind: Literal["invite", "end", "message", "connected", "overflow", "set_aside"]
    sip_call_id: str | None = Field(default=None, min_length=1)
    phone: str | None = None
    name: str | None = None
    received_at: datetime | None = None
    ended_at: datetime | None = None
    connected_at: datetime | None = None
    queued: bool = False  # every agent was full: the caller waits in the queue
    target: str | None = None  # where an overflowed call was redirected
    reason: str | None = None
    contact: str | None = None
    agent: str | None = None  # the agent holding the call (WARROOM_NODE:port)
    location: SipLocation | None = None
    location_ref: str | None = None  # RFC 6442 location by reference (an http(s) URI)
    location_warning: str | None = None
    external_id: str | None = None
    body: str | None = Field(default=None, max_length=64 * 1024)
    entry: dict[str, Any] | None = None  # kind set_aside: the entry the centre refused
    reason_text: str | None = None  # kind set_aside: why
    redelivery: bool = False  # sent again by `warroom sip redeliver` after the centre had refused it
    overlong: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _fit(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        data = dict(raw)
        overlong = {}
        for name, limit in (FITS | IDENTIFIERS).items():
            value = data.get(name)
            if isinstance(value, str) and len(value) > limit:
                overlong[name] = storable(value)
                data[name] = fitted_identifier(value, limit) if name in IDENTIFIERS else fitted(value, limit)
        location = data.get("location")
        if isinstance(location, dict):
            address = location.get("address")
            if isinstance(address, str) and len(address) > 255:
                overlong["address"] = storable(address)
                data["location"] = {**location, "address": fitted(address, 255)}
            try:
                SipLocation.model_validate(data["location"])
            except ValidationError as error:
                data["location"] = None
                problem = f"location unusable ({error.errors(include_url=False)[0]['msg']}); call taken without it"
                data["location_warning"] = fitted(problem, FITS["location_warning"])
        if overlong:
            data["overlong"] = overlong
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        """What the network sent is kept, never refused; only NUL is replaced."""
        return storable(value) if isinstance(value, str) else value


def _check_token() -> None:
    expected = current_app.config["WARROOM"].shared_intake_token()
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the SIP agent's intake token is required", "Authorization")
    if not hmac.compare_digest(token.strip(), expected):
        raise Forbidden("wrong intake token", "Authorization")


def _need(value: Any, name: str) -> Any:
    if value in (None, ""):
        raise InvalidInput(f"{name} is required for this kind of event", name)
    return value


@sip_agents.post("/events")
def sip_event() -> Response:
    _check_token()
    event = parse_body(SipEvent)
    assert isinstance(event, SipEvent)
    try:
        stored = _store(event)
    except IntegrityError:
        # the same call reported twice at once (a journal replay racing the first try, two workers
        # of a pool): the other request stored it; the event is idempotent, so storing it again finds it
        db.session.rollback()
        stored = _store(event)
    if event.redelivery:
        redelivered(db.session, event.id, "warroom sip redeliver")
    return stored


def _store(event: SipEvent) -> Response:
    loc = event.location
    fix = None
    if loc is not None and loc.lat is not None and loc.lon is not None:
        fix = Fix(loc.lat, loc.lon, loc.accuracy_m, "pidf-lo", loc.at)
    if event.kind == "overflow":
        call = voice_call_overflowed(
            db.session,
            sip_call_id=_need(event.sip_call_id, "sip_call_id"),
            phone=_phone(event.phone),
            name=event.name,
            received_at=_need(event.received_at, "received_at"),
            fix=fix,
            address=loc.address if loc else None,
            target=event.target or "none",
            extras=_extras(event),
        )
        return jsonify({"call_id": call.id, "state": call.state})
    if event.kind == "connected":
        connected = voice_call_connected(
            db.session,
            sip_call_id=_need(event.sip_call_id, "sip_call_id"),
            at=_need(event.connected_at, "connected_at"),
        )
        return jsonify(
            {"call_id": connected.id if connected else None, "state": connected.state if connected else None}
        )
    if event.kind == "invite":
        call = voice_call_received(
            db.session,
            sip_call_id=_need(event.sip_call_id, "sip_call_id"),
            phone=_phone(event.phone),
            name=event.name,
            received_at=_need(event.received_at, "received_at"),
            fix=fix,
            address=loc.address if loc else None,
            contact=event.contact,
            location_note=event.location_warning,
            queued=event.queued,
            extras=_extras(event),
            agent=event.agent,
        )
        return jsonify({"call_id": call.id, "state": call.state})
    if event.kind == "end":
        ended = voice_call_ended(
            db.session,
            sip_call_id=_need(event.sip_call_id, "sip_call_id"),
            ended_at=_need(event.ended_at, "ended_at"),
            reason=event.reason or "bye",
        )
        return jsonify({"call_id": ended.id if ended else None, "state": ended.state if ended else None})
    if event.kind == "set_aside":
        failure = intake_failed(
            db.session,
            entry=_need(event.entry, "entry"),
            reason=_need(event.reason_text or event.reason, "reason"),
        )
        return jsonify({"failure_id": failure.id})
    outcome = text_received(
        db.session,
        InboundText(
            channel=Channel.SIP_MESSAGE,
            external_id=_need(event.external_id, "external_id"),
            phone=_phone(event.phone),
            body=event.body or "",
            received_at=_need(event.received_at, "received_at"),
            peer=event.contact,
        ),
    )
    return jsonify({"call_id": outcome.call.id, "message_id": outcome.message.id, "duplicate": outcome.duplicate})


def _extras(event: SipEvent) -> CallExtras:
    return CallExtras(overlong=event.overlong, location_ref=event.location_ref)


def _phone(raw: str | None) -> str:
    """Caller numbers from the network; an anonymous caller still gets a call on record."""
    if not raw or raw.lower() in ("anonymous", "unknown", "restricted"):
        return ANONYMOUS
    try:
        return phone_or_error(raw, "phone")
    except InvalidInput:
        return raw[:32]


class DeliveryReport(BaseModel):
    status: Literal["sent", "failed"]
    error: str | None = Field(default=None, max_length=300)


class AgentPoll(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    agent: str | None = None  # WARROOM_NODE:port, fitted as the calls' `agent` is (a long host name)
    wait_s: float = 0.0  # how long the agent lets the centre hold the poll when nothing is to be sent


@sip_agents.post("/outbox/claim")
def claim_outbox() -> Response:
    """Replies waiting to go out as SIP MESSAGE; each is handed to one agent only. With `wait_s`, a poll
    finding none is held until one is queued (at most half the silence allowed an agent, see
    `cad.domain.sip_agents`). An agent that names itself is heard (its poll is its heartbeat), and the
    calls of agents gone silent are closed as dropped (`cad.services.sip_agents`)."""
    _check_token()
    try:
        poll = AgentPoll.model_validate(request.get_json(silent=True) or {})
    except (ValidationError, RecursionError):  # RecursionError: a body nested too deep for `silent`
        poll = AgentPoll()  # a poll is never refused: the replies still go out
    silent_s = current_app.config["WARROOM"].sip_agent_silent_s
    if poll.agent:
        now = clock.now()
        agent_heard(db.session, fitted(storable(poll.agent), FITS["agent"]), now, silent_s)
        drop_calls_of_silent_agents(db.session, now, silent_s)
    claimed = claim_outbox_waiting(
        db.session,
        outbox_hold_s(poll.wait_s, silent_s),
        current_app.extensions["warroom.bus"],
        sweep_silent_s=silent_s if poll.agent else None,
    )
    return jsonify([{"id": m.id, "to": m.peer, "body": m.body} for m in claimed])


@sip_agents.post("/outbox/<int:message_id>")
def outbox_delivered(message_id: int) -> Response:
    _check_token()
    report = parse_body(DeliveryReport)
    assert isinstance(report, DeliveryReport)
    message = record_delivery(db.session, message_id, report.status)
    return jsonify({"id": message.id, "status": message.status})
