"""Callers, their calls, and the flags call-takers put on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cad.db import UTCDateTime, db
from cad.domain.calls import CallDisposition, CallState, Channel, MessageDirection, MessageKind
from cad.models._types import enum_column


class Caller(db.Model):  # type: ignore[name-defined]
    __tablename__ = "callers"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str | None] = mapped_column(sa.String(120))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Call(db.Model):  # type: ignore[name-defined]
    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("callers.id"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "call_channel"))
    state: Mapped[CallState] = mapped_column(enum_column(CallState, "call_state"))
    sip_call_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    disposition: Mapped[CallDisposition | None] = mapped_column(enum_column(CallDisposition, "call_disposition"))
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    location_accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    location_source: Mapped[str | None] = mapped_column(sa.String(16))
    located_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    location_address: Mapped[str | None] = mapped_column(sa.String(255))
    sip_contact: Mapped[str | None] = mapped_column(sa.String(255))
    # the SIP agent holding the call (WARROOM_NODE:port): its calls are dropped when it falls silent
    sip_agent: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # header values longer than their column, whole as the network sent them ({"name": "…"}, JSON)
    sip_headers: Mapped[str | None] = mapped_column(sa.Text)
    # location by reference (RFC 6442 Geolocation with an http(s) URI): where the network keeps it
    location_ref: Mapped[str | None] = mapped_column(sa.Text)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    caller: Mapped[Caller | None] = relationship()
    incident: Mapped[Any] = relationship("Incident", foreign_keys=[incident_id])


class CallerFlag(db.Model):  # type: ignore[name-defined]
    """A mark on a phone number (prank, ghost call), kept with the call that earned it."""

    __tablename__ = "caller_flags"
    id: Mapped[int] = mapped_column(primary_key=True)
    caller_id: Mapped[int] = mapped_column(sa.ForeignKey("callers.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(sa.ForeignKey("calls.id"))
    kind: Mapped[CallDisposition] = mapped_column(enum_column(CallDisposition, "caller_flag_kind"))
    note: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class Message(db.Model):  # type: ignore[name-defined]
    """One text in a call's conversation (SMS, SIP MESSAGE), or a location report (AML) kept out of the chat."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(sa.ForeignKey("calls.id"), index=True)
    direction: Mapped[MessageDirection] = mapped_column(enum_column(MessageDirection, "message_direction"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind, "message_kind"))
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "message_channel"))
    body: Mapped[str] = mapped_column(sa.Text)
    external_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    peer: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
