"""Outbound SMS: Twilio's REST client when configured, else a null sender that logs and keeps
the message queued (never `if TESTING:`; the choice is configuration)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentSms:
    sid: str | None
    status: str  # "queued" (not sent: no Twilio), "sent"/"accepted" (Twilio took it), "failed"
    error: str | None = None


class SmsSender(Protocol):
    def send(self, to: str, body: str) -> SentSms: ...


class NullSms:
    """No Twilio credentials: log the message; it stays queued in the record."""

    def send(self, to: str, body: str) -> SentSms:
        log.info("SMS not sent (TWILIO_* unset) to %s: %s", to, body[:160])
        return SentSms(None, "queued")


class TwilioSms:
    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_url: str | None = None) -> None:
        from twilio.rest import Client

        self.client = Client(account_sid, auth_token)
        if api_url:  # a local server that speaks Twilio's API (tests), or a regional edge
            self.client.api.base_url = api_url.rstrip("/")
        self.from_number = from_number

    def send(self, to: str, body: str) -> SentSms:
        from twilio.base.exceptions import TwilioException

        try:
            message = self.client.messages.create(to=to, from_=self.from_number, body=body)
        except TwilioException as error:
            log.error("Twilio refused an SMS to %s: %s", to, error)
            return SentSms(None, "failed", str(error)[:300])
        return SentSms(message.sid, message.status or "accepted")


def sms_sender(account_sid: str, auth_token: str, from_number: str, api_url: str | None = None) -> SmsSender:
    if account_sid and auth_token and from_number:
        return TwilioSms(account_sid, auth_token, from_number, api_url)
    return NullSms()
