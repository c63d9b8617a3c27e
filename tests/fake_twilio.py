"""Twilio, both ways, without the internet: a local HTTP server that speaks the part of Twilio's REST
API we use (Messages.json), so the real `twilio.rest.Client` is exercised; and a text posted to the
centre's webhook as Twilio posts it, signed with Twilio's own validator."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from flask.testing import FlaskClient
    from werkzeug.test import TestResponse

#: The auth token of the Twilio account the SMS tests use (signatures and the REST API).
TWILIO_AUTH_TOKEN = "twilio-test-auth-token"
#: The centre's public address, the one Twilio signs its webhook posts for (WARROOM_PUBLIC_URL).
PUBLIC = "https://warroom.example.id"
SMS_PATH = "/telephony/twilio/sms"


def signed_sms(
    body: str,
    sid: str,
    sender: str = "+6281234567890",
    *,
    sign_with: str = TWILIO_AUTH_TOKEN,
    url: str = PUBLIC + SMS_PATH,
    extra: dict[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """A text from `sender` as Twilio posts it to the SMS webhook: the form body and its headers,
    signed for `url` with Twilio's own validator."""
    form = {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+62112",
        "Body": body,
        "NumMedia": "0",
        **(extra or {}),
    }
    signature = RequestValidator(sign_with).compute_signature(url, form)
    return urlencode(form), {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}


def sms(
    client: FlaskClient,
    body: str,
    sid: str,
    sender: str = "+6281234567890",
    *,
    sign_with: str = TWILIO_AUTH_TOKEN,
    url: str = PUBLIC + SMS_PATH,
    extra: dict[str, str] | None = None,
) -> TestResponse:
    """A text from `sender` posted to the centre's SMS webhook (the test client) as Twilio posts it."""
    data, headers = signed_sms(body, sid, sender, sign_with=sign_with, url=url, extra=extra)
    return client.post(SMS_PATH, data=data, headers=headers)


@dataclass
class FakeTwilio:
    account_sid: str
    auth_token: str
    sent: list[dict[str, str]] = field(default_factory=list)
    fail_to: set[str] = field(default_factory=set)  # numbers Twilio refuses (error 21211)
    url: str = ""

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                expected = "Basic " + base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                if self.path != f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json":
                    self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if form.get("To") in fake.fail_to:
                    self._reply(
                        400,
                        {
                            "code": 21211,
                            "message": f"The 'To' number {form['To']} is not a valid phone number.",
                            "more_info": "https://www.twilio.com/docs/errors/21211",
                            "status": 400,
                        },
                    )
                    return
                fake.sent.append(form)
                sid = "SM" + uuid.uuid4().hex
                self._reply(
                    201,
                    {
                        "sid": sid,
                        "account_sid": fake.account_sid,
                        "to": form.get("To"),
                        "from": form.get("From"),
                        "body": form.get("Body"),
                        "status": "queued",
                        "num_segments": "1",
                        "direction": "outbound-api",
                        "uri": f"/2010-04-01/Accounts/{fake.account_sid}/Messages/{sid}.json",
                    },
                )

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        return self.url

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
