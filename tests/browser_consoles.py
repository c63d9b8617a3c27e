"""The consoles in a real browser (Debian's Chromium driven by Playwright): where screenshots go, a
console page logged in, and a 112 call or text arriving at the demo centre the browser tests share
(tests/e2e/conftest.py's `browser` and `demo_centre`)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from live import INTAKE_TOKEN, LiveCentre
from twilio.request_validator import RequestValidator

from cad.config import SHARED_DATA
from cad.demo import DEMO_PASSWORDS

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"
TWILIO_TOKEN = "browser-test-twilio"
XSS_NAME = "Budi <img src=x onerror=window.__xss=1>"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000


def artefacts() -> Path:
    folder = Path(os.environ.get("WARROOM_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def failed(response: Any) -> bool:
    """A request the page should not have had refused. A route asked for just as the job ends is
    404 (no active assignment): a race the crew page expects and handles."""
    return response.status >= 400 and not (response.status == 404 and response.url.endswith("/route"))


def console(
    browser: Any,
    centre: LiveCentre,
    username: str,
    errors: list[str],
    script: str | None = None,
    *,
    password: str | None = None,
    **context: Any,
) -> Any:
    """A page of a new browser context logged in through the login form as `username` (a demo user
    unless `password` is given), on the console it lands on once that console has loaded; every
    page error, dialog, console error and refused request goes to `errors`."""
    page = browser.new_context(**context).new_page()
    if script is not None:
        page.add_init_script(script)  # runs before the page's own scripts
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
    page.on("dialog", lambda dialog: errors.append(f"{username}: dialog {dialog.message}"))
    page.on(  # failed requests are judged by `failed` above; every other console error counts
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and errors.append(f"{username}: {m.text}")
        ),
    )
    page.on("response", lambda r: failed(r) and errors.append(f"{username}: {r.status} {r.url}"))
    page.goto(centre.url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password if password is not None else DEMO_PASSWORDS[username])
    page.click("main.login button")
    page.wait_for_url(lambda url: "/login" not in url)
    if username != "manajer":  # the manager's pages are drawn by the server; the consoles by their scripts
        page.wait_for_selector("body[data-loaded] #live:not([hidden])")  # first looks answered, stream open
    page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    return page


def sip_invite(centre: LiveCentre, lat: float, lon: float) -> int:
    now = datetime.now(UTC).isoformat()
    event = {
        "id": "browser-e1",
        "kind": "invite",
        "sip_call_id": "browser-call@10.0.0.1",
        "phone": "+6281234567890",
        "name": XSS_NAME,
        "received_at": now,
        "contact": "<sip:0812@10.0.0.1:5062>",
        "location": {"lat": lat, "lon": lon, "accuracy_m": 25, "address": None},
    }
    response = requests.post(
        centre.url + "/telephony/sip/events",
        json=event,
        headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["call_id"])


def sms(centre: LiveCentre, body: str) -> None:
    url = centre.url + "/telephony/twilio/sms"
    form = {"MessageSid": "SMbrowser1", "AccountSid": "AC" + "0" * 32, "From": "+6285299990000", "To": "+62112"}
    form |= {"Body": body, "NumMedia": "0"}
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    response = requests.post(
        url,
        data=urlencode(form),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
