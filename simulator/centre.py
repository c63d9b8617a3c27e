"""The simulator's ways into the centre: exactly the interfaces real people and devices use.

HTTP API with bearer tokens (call-takers, dispatchers, crews), the OsmAnd protocol (vehicle
GPS), Twilio-signed SMS webhooks (with AML), and SIP INVITEs with PIDF-LO placed by `sipp`.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from twilio.request_validator import RequestValidator

log = logging.getLogger(__name__)

SCENARIO = Path(__file__).with_name("sipp") / "call_112.xml"
TURNED_AWAY = 97  # sipp's exit after the scenario's stop_now: 503 (every line busy) or 302 (the overflow centre)
KNOT_MPS = 0.514444


class CentreError(Exception):
    """The centre answered something the simulator did not expect."""


@dataclass
class Access:
    """What the simulator may use: the centre's URL, tokens, and where calls and texts go in."""

    url: str
    api_token: str
    devices: dict[int, str]
    crews: dict[int, str]
    twilio_auth_token: str | None = None
    twilio_url: str | None = None  # the URL Twilio signs (WARROOM_PUBLIC_URL's, or the centre's own)
    sip_target: str | None = None  # host:port of the SIP intake


class Centre:
    """A thread-safe client of one running centre (one HTTP connection pool per thread)."""

    def __init__(self, access: Access, timeout_s: float = 10.0) -> None:
        self.access = access
        self.url = access.url.rstrip("/")
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._sms_serial = 0
        self._lock = threading.Lock()

    @property
    def _http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def api(self, method: str, path: str, token: str | None = None, body: Any = None, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {token or self.access.api_token}"}
        response = self._http.request(
            method, f"{self.url}/api/v1{path}", json=body, params=params or None, headers=headers,
            timeout=self._timeout_s,
        )  # fmt: skip
        if response.status_code >= 400:
            raise CentreError(f"{method} {path} → {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def gps(self, unit_id: int, lat: float, lon: float, at_s: float, speed_mps: float, bearing: float) -> int:
        """One fix over the OsmAnd protocol, as Traccar Client sends it; the HTTP status."""
        query = {
            "id": self.access.devices[unit_id],
            "lat": f"{lat:.6f}",
            "lon": f"{lon:.6f}",
            "timestamp": int(at_s * 1000),
            "speed": f"{speed_mps / KNOT_MPS:.1f}",
            "bearing": f"{bearing:.0f}",
            "accuracy": "8",
            "batt": "80",
        }
        return self._http.get(f"{self.url}/gps/osmand", params=query, timeout=self._timeout_s).status_code

    @property
    def texts(self) -> bool:
        return bool(self.access.twilio_auth_token)

    def sms(self, phone: str, body: str, retry_s: float = 120.0) -> int:
        """An inbound SMS as Twilio delivers it: a signed form POST, resent (same MessageSid) while
        the centre answers 5xx or not at all, as Twilio's retries do; the final HTTP status."""
        assert self.access.twilio_auth_token
        with self._lock:
            self._sms_serial += 1
            sid = f"SMsim{int(time.time() * 1000):x}{self._sms_serial:06d}"
        form = {"MessageSid": sid, "AccountSid": "ACsimulator", "From": phone, "To": "+62112", "Body": body}
        signed_url = (self.access.twilio_url or self.url).rstrip("/") + "/telephony/twilio/sms"
        signature = RequestValidator(self.access.twilio_auth_token).compute_signature(signed_url, form)
        headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
        deadline, wait_s = time.monotonic() + retry_s, 0.5
        while True:
            try:
                status = self._http.post(
                    f"{self.url}/telephony/twilio/sms", data=urlencode(form), headers=headers, timeout=self._timeout_s
                ).status_code
            except requests.RequestException:
                status = 599
            if status < 500 or time.monotonic() + wait_s > deadline:
                return status
            time.sleep(wait_s)
            wait_s = min(wait_s * 2, 8.0)

    def events(self, stop: threading.Event) -> Iterator[tuple[str, dict[str, Any]]]:
        """The live event stream (SSE), (kind, data) per change, until `stop` is set."""
        while not stop.is_set():
            try:
                with requests.get(
                    f"{self.url}/api/v1/events",
                    headers={"Authorization": f"Bearer {self.access.api_token}"},
                    stream=True,
                    timeout=(5, 30),
                ) as response:
                    kind = ""
                    for line in response.iter_lines(decode_unicode=True):
                        if stop.is_set():
                            return
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: "):
                            yield kind, json.loads(line[6:])
            except (requests.RequestException, ValueError) as error:
                log.info("event stream interrupted (%s); reconnecting", error)
                stop.wait(1.0)


def _media_port() -> int:
    """An even port for sipp's RTP socket, free now (sipp's fixed default clashes between calls)."""
    for _ in range(100):
        port = random.randrange(40000, 60000, 2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for sipp's media")


def _why(code: int, errors: Path) -> str:
    """What sipp logged about a failed call: the last lines of its error file ("" for a call that
    went as the scenario says)."""
    if code in (0, TURNED_AWAY):
        return ""
    try:
        lines = errors.read_text(errors="replace").split("\n")
    except OSError:
        return f"sipp exit {code}, no error log"
    logged = " ".join(line.strip() for line in lines if line.strip())
    return f"sipp exit {code}: {logged[-400:]}" if logged else f"sipp exit {code}"


class Caller:
    """Places 112 calls with PIDF-LO through sipp, one process per call (its own phone and place)."""

    def __init__(self, target: str | None) -> None:
        self.sipp = shutil.which("sipp")
        self.target = target
        self._work = Path(tempfile.mkdtemp(prefix="warroom-sim-"))
        self._running: list[tuple[subprocess.Popen[bytes], Path, Callable[[int, str], None]]] = []
        self._serial = 0

    @property
    def ready(self) -> bool:
        return bool(self.sipp and self.target)

    def call(self, phone: str, name: str, pidf: str, hold_s: float, done: Callable[[int, str], None]) -> None:
        """Start one call; `done(returncode, why)` is called from `reap()` when sipp has finished, `why`
        being the end of sipp's error log when the call failed (exit neither 0 nor `TURNED_AWAY`)."""
        assert self.sipp and self.target
        self._serial += 1
        fields = self._work / f"call-{self._serial}.csv"
        fields.write_text(f"SEQUENTIAL\n{phone};{name};{pidf}\n")
        errors = self._work / f"call-{self._serial}.errors"
        process = subprocess.Popen(
            [
                self.sipp, self.target, "-sf", str(SCENARIO), "-inf", str(fields), "-m", "1",
                "-d", str(int(hold_s * 1000)), "-i", "127.0.0.1", "-p", "0", "-mp", str(_media_port()), "-nostdin",
                "-timeout", f"{int(hold_s + 30)}s", "-timeout_error", "-recv_timeout", "10000",
                "-trace_err", "-error_file", str(errors),
            ],
            cwd=self._work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._running.append((process, errors, done))

    def reap(self) -> None:
        still = []
        for process, errors, done in self._running:
            code = process.poll()
            if code is None:
                still.append((process, errors, done))
            else:
                done(code, _why(code, errors))
        self._running = still

    @property
    def in_progress(self) -> int:
        return len(self._running)

    def close(self, wait_s: float = 60.0) -> None:
        """Let the calls in progress finish (a killed sipp never hangs up, and the agent would hold
        its line), then stop whatever is left."""
        deadline = time.monotonic() + wait_s
        while self._running and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.1)
        for process, errors, done in self._running:
            process.terminate()
            try:
                code = process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            done(code, f"still running {wait_s:.0f} s after the run ended; stopped. {_why(code, errors)}".strip())
        self._running = []
        shutil.rmtree(self._work, ignore_errors=True)
