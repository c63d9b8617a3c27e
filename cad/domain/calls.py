"""Calls, their states, and what a call-taker can say a call was (pure)."""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum


class CallState(StrEnum):
    WAITING = "waiting"  # every SIP agent was full: the caller hears ringing in the queue
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"
    ABANDONED = "abandoned"
    OVERFLOWED = "overflowed"  # every SIP agent was full: redirected to WARROOM_SIP_OVERFLOW
    DROPPED = "dropped"  # cut off: the SIP agent holding the call died (its node, or the process)


#: A call still going on: a caller waiting, ringing or talking to a call-taker.
OPEN_CALL_STATES = (CallState.WAITING, CallState.RINGING, CallState.ANSWERED)


class Channel(StrEnum):
    VOICE = "voice"  # a 112 call over SIP
    SMS = "sms"  # Twilio SMS
    SIP_MESSAGE = "sip_message"  # text to 112 over SIP MESSAGE
    WEB = "web"  # logged by hand by a call-taker


class MessageDirection(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class MessageKind(StrEnum):
    TEXT = "text"  # shown in the conversation
    AML = "aml"  # a handset location report: kept, never shown as chat


class CallDisposition(StrEnum):
    """What the call turned out to be; `prank` and `ghost` flag the caller."""

    INCIDENT = "incident"
    PRANK = "prank"  # iseng: a joke or abusive call
    GHOST = "ghost"  # silent/pocket call, nobody speaks
    INFORMATION = "information"
    WRONG_NUMBER = "wrong_number"


FLAGGING_DISPOSITIONS = frozenset({CallDisposition.PRANK, CallDisposition.GHOST})

C = CallState
CALL_TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    C.WAITING: frozenset({C.RINGING, C.ABANDONED, C.OVERFLOWED, C.DROPPED}),
    C.RINGING: frozenset({C.ANSWERED, C.ABANDONED, C.DROPPED}),
    C.ANSWERED: frozenset({C.ENDED, C.DROPPED}),
    C.ENDED: frozenset(),
    C.ABANDONED: frozenset(),
    C.OVERFLOWED: frozenset(),
    C.DROPPED: frozenset(),
}
#: The reason an agent gives (journal `end` entries) for calls an earlier run of it died holding.
AGENT_DIED = "agent_died"


class IllegalCallTransition(ValueError):
    def __init__(self, current: CallState, requested: CallState) -> None:
        super().__init__(f"a call that is {current} cannot become {requested}")
        self.current = current
        self.requested = requested


def change_call_state(current: CallState, requested: CallState) -> CallState:
    if requested not in CALL_TRANSITIONS[current]:
        raise IllegalCallTransition(current, requested)
    return requested


def end_state(current: CallState, reason: str = "bye") -> CallState:
    """A hang-up: `ended` after a call-taker answered, `abandoned` while still ringing or queued;
    `dropped` whatever it was when the agent holding it died (the caller did not hang up: the line
    was cut, and a call-taker should call back)."""
    if reason == AGENT_DIED:
        return change_call_state(current, C.DROPPED)
    return change_call_state(current, C.ABANDONED if current in (C.WAITING, C.RINGING) else C.ENDED)


_PHONE_CHARS = re.compile(r"[\s\-().]")


def normalise_phone(raw: str, country_code: str = "62") -> str:
    """E.164 for Indonesian numbers as people write them: 0812… → +62812…; raises ValueError."""
    value = _PHONE_CHARS.sub("", raw or "")
    if value.startswith("00"):
        value = "+" + value[2:]
    elif value.startswith("0"):
        value = f"+{country_code}{value[1:]}"
    elif value.isdigit() and value.startswith(country_code) and len(value) > 9:
        value = "+" + value
    if value.isdigit() and len(value) <= 6:  # short codes and internal extensions
        return value
    if not re.fullmatch(r"\+[1-9]\d{6,14}", value):
        raise ValueError(f"not a phone number: {raw!r}")
    return value


def fitted(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, marked with `…` where it was cut."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def fitted_identifier(value: str, limit: int) -> str:
    """An identifier (a SIP Call-ID) too long for its column, made to fit and stay unique: its start,
    then a digest of the whole, so every later report of the same call finds the same row."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{value[: limit - len(digest) - 1]}~{digest}"
