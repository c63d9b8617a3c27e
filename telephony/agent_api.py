"""The centre's side of the SIP agent: `POST /telephony/sip/events` takes journal entries.

The agent authenticates with the shared intake token. A database that is down answers 503
(the agent keeps the entry and retries); an entry that can never be stored answers 4xx.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError

from cad.api.spec import parse_body
from cad.db import db
from cad.domain.calls import Channel
from cad.errors import Forbidden, InvalidInput, Unauthorized
from cad.services.calls import ANONYMOUS, Fix, phone_or_error
from cad.services.intake import (
    InboundText,
    claim_sip_outbox,
    record_delivery,
    storable,
    text_received,
    voice_call_connected,
    voice_call_ended,
    voice_call_overflowed,
    voice_call_received,
)

telephony = Blueprint("telephony", __name__, url_prefix="/telephony")


class SipLocation(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0)
    address: str | None = Field(default=None, max_length=255)
    method: str | None = None
    at: datetime | None = None


class SipEvent(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")
    id: str = Field(min_length=1, max_length=64)
    kind: Literal["invite", "end", "message", "connected", "overflow"]
    sip_call_id: str | None = Field(default=None, min_length=1, max_length=255)
    phone: str | None = Field(default=None, max_length=64)
    name: str | None = Field(default=None, max_length=120)
    received_at: datetime | None = None
    ended_at: datetime | None = None
    connected_at: datetime | None = None
    queued: bool = False  # every agent was full: the caller waits in the queue
    target: str | None = Field(default=None, max_length=255)  # where an overflowed call was redirected
    reason: str | None = Field(default=None, max_length=32)
    contact: str | None = Field(default=None, max_length=255)
    location: SipLocation | None = None
    location_warning: str | None = Field(default=None, max_length=500)
    external_id: str | None = Field(default=None, max_length=255)
    body: str | None = Field(default=None, max_length=5000)

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


@telephony.post("/sip/events")
def sip_event() -> Response:
    _check_token()
    event = parse_body(SipEvent)
    assert isinstance(event, SipEvent)
    try:
        return _store(event)
    except IntegrityError:
        # the same call reported twice at once (a journal replay racing the first try, two workers
        # of a pool): the other request stored it; the event is idempotent, so storing it again finds it
        db.session.rollback()
        return _store(event)


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
            target=_need(event.target, "target"),
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
    outcome = text_received(
        db.session,
        InboundText(
            channel=Channel.SIP_MESSAGE,
            external_id=_need(event.external_id, "external_id"),
            phone=_phone(event.phone),
            body=_need(event.body, "body"),
            received_at=_need(event.received_at, "received_at"),
            peer=event.contact,
        ),
    )
    return jsonify({"call_id": outcome.call.id, "message_id": outcome.message.id, "duplicate": outcome.duplicate})


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


@telephony.post("/sip/outbox/claim")
def claim_outbox() -> Response:
    """Replies waiting to go out as SIP MESSAGE; each is handed to one agent only."""
    _check_token()
    return jsonify([{"id": m.id, "to": m.peer, "body": m.body} for m in claim_sip_outbox(db.session)])


@telephony.post("/sip/outbox/<int:message_id>")
def outbox_delivered(message_id: int) -> Response:
    _check_token()
    report = parse_body(DeliveryReport)
    assert isinstance(report, DeliveryReport)
    message = record_delivery(db.session, message_id, report.status)
    return jsonify({"id": message.id, "status": message.status})
