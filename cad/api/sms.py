"""`POST /telephony/twilio/sms`: Twilio's inbound-SMS webhook.

Signed (X-Twilio-Signature, checked with twilio's own RequestValidator), idempotent on
MessageSid, one conversation per number, answered with TwiML in Indonesian. An AML
message (handset location) is attached to the caller's call, never shown as chat. A
database that is down answers 503 so that Twilio retries.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import IntegrityError
from twilio.request_validator import RequestValidator

from cad import clock
from cad.db import db
from cad.domain.calls import Channel
from cad.domain.incidents import IncidentType, Priority
from cad.errors import Conflict, Forbidden, InvalidInput
from cad.models import Unit
from cad.services.calls import Fix, phone_or_error
from cad.services.dispatching import set_unit_status
from cad.services.incidents import NewIncident, create_incident
from cad.services.intake import InboundText, handset_located, storable, text_received
from cad.services.notify import ACK_WORDS, active_assignment_of, crew_unit_for_phone
from dispatch.units import UnitStatus
from telephony.aml import MalformedAml, is_aml, parse_aml

log = logging.getLogger(__name__)
MAX_BODY = 1600  # Twilio's own limit for a concatenated SMS

sms = Blueprint("sms", __name__, url_prefix="/telephony/twilio")


def twiml(text: str | None) -> Response:
    inner = f"<Message>{escape(text)}</Message>" if text else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>', mimetype="text/xml")


def _signed_url() -> str:
    """The URL Twilio signed: the public one behind a proxy, else the one we were called on."""
    public = current_app.config["WARROOM"].public_url
    if not public:
        return request.url
    query = f"?{request.query_string.decode()}" if request.query_string else ""
    return public.rstrip("/") + request.path + query


def _verify_signature() -> None:
    token = current_app.config["WARROOM"].twilio_auth_token
    if not token:
        raise Forbidden("inbound SMS is switched off: TWILIO_AUTH_TOKEN is not set", "X-Twilio-Signature")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not RequestValidator(token).validate(_signed_url(), request.form.to_dict(), signature):
        raise Forbidden("the X-Twilio-Signature does not match this request", "X-Twilio-Signature")


def _field(name: str, limit: int, required: bool = True) -> str:
    value = request.form.get(name, "")
    if required and not value.strip():
        raise InvalidInput(f"{name} is required", name)
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters", name)
    return value


@sms.post("/sms")
def inbound_sms() -> Response:
    _verify_signature()
    sid = _field("MessageSid", 64)
    phone = phone_or_error(_field("From", 32), "From")
    body = _field("Body", MAX_BODY, required=False)
    now = clock.now()
    if is_aml(body):
        return _aml(sid, phone, body, now)
    crew = crew_unit_for_phone(db.session, phone)
    if crew is not None and body.strip().upper().rstrip(".!") in ACK_WORDS:
        return _crew_acknowledges(crew)
    try:
        return _text(sid, phone, body, now)
    except IntegrityError:
        # stored meanwhile by a request this one did not wait for (texts from one number are held
        # one at a time, so this is a safety net): the message is there now, answer as the retry
        db.session.rollback()
        return _text(sid, phone, body, now)


def _text(sid: str, phone: str, body: str, now: datetime) -> Response:
    """The text, and for a new conversation its incident, in one transaction: a retry of the
    MessageSid then always finds the incident and is answered with the same words."""
    outcome = text_received(
        db.session, InboundText(Channel.SMS, f"twilio:{sid}", phone, body, now, peer=phone), commit=False
    )
    call = outcome.call
    if outcome.new_conversation and not outcome.duplicate and call.incident_id is None:
        settings = current_app.config["WARROOM"]
        create_incident(
            db.session,
            NewIncident(
                type=IncidentType.LAINNYA,
                priority=Priority.PROMPT,
                fix=None,
                description=f"SMS: {storable(body)[:500]}",
                call_id=call.id,
            ),
            None,
            prefix=settings.incident_prefix,
            tz=settings.timezone,
            actor="sms",
            unlocated_ok=True,
            commit=False,
        )
    db.session.commit()
    number = call.incident.number if call.incident_id and call.incident else None
    if outcome.new_conversation:
        text = (
            f"War Room 112: laporan Anda diterima, nomor insiden {number}. Petugas kami segera membalas. "
            "Jika memungkinkan, kirim alamat lengkap atau telepon 112."
        )
    else:
        text = f"War Room 112: pesan Anda diterima (insiden {number})." if number else "War Room 112: pesan diterima."
    return twiml(text)


def _crew_acknowledges(unit: Unit) -> Response:
    """A crew answering its dispatch SMS with OK: the unit's assignment is acknowledged."""
    assignment = active_assignment_of(db.session, unit.id)
    if assignment is None:
        return twiml(f"War Room 112: tidak ada tugas aktif untuk {unit.callsign}.")
    number = assignment.incident.number
    try:
        set_unit_status(
            db.session,
            unit.id,
            UnitStatus.ACKNOWLEDGED,
            None,
            actor=f"sms:{unit.callsign}",
            source="sms",
            expected=UnitStatus.ASSIGNED,
        )
    except Conflict:  # already acknowledged, or already on the way: nothing to do
        return twiml(f"War Room 112: {unit.callsign} sudah tercatat untuk {number}.")
    return twiml(f"War Room 112: diterima, {unit.callsign} untuk {number}.")


def _aml(sid: str, phone: str, body: str, now: datetime) -> Response:
    try:
        aml = parse_aml(body)
    except MalformedAml as error:
        log.warning("malformed AML from %s kept without location: %s", phone, error)
        fix = None
    else:
        fix = (
            None
            if aml.lat is None or aml.lon is None
            else Fix(aml.lat, aml.lon, aml.radius_m, "aml", aml.fix_at.astimezone(UTC) if aml.fix_at else None)
        )
    handset_located(db.session, external_id=f"twilio:{sid}", phone=phone, body=body, fix=fix, received_at=now)
    return twiml(None)  # the handset sent it, nobody reads a reply
