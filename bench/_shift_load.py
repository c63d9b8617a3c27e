"""The load of bench/shift.py: one asyncio process per side, so 460 streams and ~150 requests a
second cost the client a fraction of a core on the machine it shares with the centre.

    python bench/_shift_load.py people PLAN   consoles and crew phones: every one holds
        GET /api/v1/events for the whole run and acts on what it hears (call-takers answer and
        make incidents, dispatchers ask for recommendations and assign, crews acknowledge and
        move through their statuses, every console refreshes its board now and then);
        prints READY when its streams are open, starts acting on a line GO from stdin.
    python bench/_shift_load.py devices PLAN  the network and the vehicles: 112 calls through the
        SIP agents' events API (`POST /telephony/sip/events`, as `telephony.courier` posts them;
        no SIP is placed), texts through Twilio's signed webhook, a GPS fix from every unit every
        few seconds (OsmAnd); READY at once, the same GO.

GO carries the end of the load (wall clock, `time.time()`).

PLAN is the JSON file bench/shift.py writes; each side pickles what it did to PLAN's `out`.
A stream's events are kept as (id, arrival time) only: a line is parsed further only when its
reader has something to do with it.
"""

from __future__ import annotations

import array
import asyncio
import itertools
import json
import pickle
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import city

KNOT_MPS = 0.514444


@dataclass
class Stream:
    """What one console or crew phone heard: event ids and when each arrived (wall clock)."""

    role: str  # call_taker, dispatcher, crew
    token: str
    unit_id: int | None = None
    index: int = 0  # among the consoles of its role
    connected_at: float | None = None
    connects: int = 0
    errors: list[str] = field(default_factory=list)
    position: int | None = None  # the stream's opening `id:` line, when it has one
    last_id: int | None = None  # as a browser's EventSource keeps it: the last `id:` line, sent back on reconnect
    ids: array.array[int] = field(default_factory=lambda: array.array("q"))
    times: array.array[float] = field(default_factory=lambda: array.array("d"))

    def result(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "unit_id": self.unit_id,
            "connected_at": self.connected_at,
            "connects": self.connects,
            "errors": self.errors[-5:],
            "error_count": len(self.errors),
            "position": self.position,
            "ids": self.ids.tobytes(),
            "times": self.times.tobytes(),
        }


class Client:
    """One HTTP client for the whole process; every request's kind, latency and outcome kept."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.url = plan["url"]
        self.requests: list[tuple[str, float, float, int | str]] = []
        self.acked: dict[str, list[Any]] = {}
        self.timeout = aiohttp.ClientTimeout(total=plan["request_timeout_s"])
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.lag: list[float] = []

    async def __aenter__(self) -> Client:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None)
        self.session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    def ack(self, what: str, value: Any) -> None:
        self.acked.setdefault(what, []).append(value)

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        form: str | None = None,
        headers: dict[str, str] | None = None,
        want: bool = False,
    ) -> tuple[int, Any]:
        """(status, the JSON body when `want`); status 0 when nothing came back (timeout, error)."""
        assert self.session is not None
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data: Any = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = form
        started, wall = time.perf_counter(), time.time()
        try:
            async with self.session.request(
                method, self.url + path, data=data, headers=headers, timeout=self.timeout
            ) as response:
                raw = await response.read()
                status = response.status
        except TimeoutError:
            self.requests.append((kind, wall, time.perf_counter() - started, "timeout"))
            return 0, None
        except aiohttp.ClientError as error:
            self.requests.append((kind, wall, time.perf_counter() - started, type(error).__name__))
            return 0, None
        self.requests.append((kind, wall, time.perf_counter() - started, status))
        if want and 200 <= status < 300 and raw:
            return status, json.loads(raw)
        return status, None

    async def watch_loop(self, until: float) -> None:
        """How late the event loop wakes: the client keeping up, or not."""
        while time.time() < until:
            planned = time.perf_counter() + 0.1
            await asyncio.sleep(0.1)
            self.lag.append(time.perf_counter() - planned)

    def dump(self, extra: dict[str, Any]) -> None:
        result = {"requests": self.requests, "acked": self.acked, "lag": self.lag, **extra}
        Path(self.plan["out"]).write_bytes(pickle.dumps(result))


# --- consoles and crew phones ------------------------------------------------------------


class People:
    def __init__(self, client: Client, plan: dict[str, Any]) -> None:
        self.client, self.plan = client, plan
        self.rng = random.Random(plan["seed"])
        self.streams: list[Stream] = []
        counts: dict[str, int] = {}
        for console in plan["consoles"]:
            index = counts[console["role"]] = counts.get(console["role"], -1) + 1
            self.streams.append(Stream(console["role"], console["token"], index=index))
        self.takers = counts.get("call_taker", -1) + 1
        self.dispatchers = counts.get("dispatcher", -1) + 1
        self.crew_token = {crew["unit_id"]: crew["token"] for crew in plan["crews"]}
        self.streams += [Stream("crew", crew["token"], unit_id=crew["unit_id"]) for crew in plan["crews"]]
        self.dispatcher_token = [s.token for s in self.streams if s.role == "dispatcher"]
        self.acting = False
        self.until = float("inf")
        self.busy: set[int] = set()  # units this process's dispatchers sent and have not had back
        self.job: dict[int, tuple[int, str]] = {}  # unit → (incident, the dispatcher who sent it)

    async def hold(self, stream: Stream, stop: asyncio.Event) -> None:
        """Keep the stream open until `stop`; reconnect (with Last-Event-ID) when it drops."""
        client = self.client
        assert client.session is not None
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self.plan["stream_read_timeout_s"])
        while not stop.is_set():
            headers = {"Authorization": f"Bearer {stream.token}", "Accept": "text/event-stream"}
            if stream.last_id is not None:
                headers["Last-Event-ID"] = str(stream.last_id)
            try:
                async with client.session.get(
                    client.url + "/api/v1/events", headers=headers, timeout=timeout
                ) as response:
                    if response.status != 200:
                        stream.errors.append(f"HTTP {response.status}")
                        await asyncio.sleep(1)
                        continue
                    stream.connects += 1
                    await self.read(stream, response, stop)
            except TimeoutError:
                stream.errors.append("timeout")
            except aiohttp.ClientError as error:
                stream.errors.append(type(error).__name__)
            if not stop.is_set():
                await asyncio.sleep(0.5 + self.rng.random())

    async def read(self, stream: Stream, response: aiohttp.ClientResponse, stop: asyncio.Event) -> None:
        buffer = b""
        ids, times = stream.ids, stream.times
        reading = asyncio.ensure_future(response.content.readany())
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                done, _ = await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if stopping in done:
                    return
                chunk = reading.result()
                if not chunk:
                    stream.errors.append("closed by the centre")
                    return
                now = time.time()
                reading = asyncio.ensure_future(response.content.readany())
                buffer += chunk
                if b"\n\n" not in buffer:
                    continue
                *blocks, buffer = buffer.split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"id: ") and b"\nevent: " in block and b"\n:" not in block:
                        head, _, rest = block.partition(b"\n")  # the usual event: id, event, data
                        event_id = stream.last_id = int(head[4:])
                    else:  # comments, retry:, the opening position, a resync: read line by line
                        event_id, rest = self.unusual(stream, block, now)
                        if event_id is None:
                            continue
                    ids.append(event_id)
                    times.append(now)
                    if self.acting:
                        self.hear(stream, event_id, rest)
        finally:
            reading.cancel()
            stopping.cancel()

    @staticmethod
    def unusual(stream: Stream, block: bytes, now: float) -> tuple[int | None, bytes]:
        """A block other than a plain event: (its event's id and `event:`/`data:` lines, or None)."""
        event_id: int | None = None
        lines = []
        for line in block.split(b"\n"):
            if line.startswith(b": connected") and stream.connected_at is None:
                stream.connected_at = now
            elif line.startswith(b"id:"):
                event_id = stream.last_id = int(line[3:].strip() or 0)
            elif line.startswith((b"event:", b"data:")):
                lines.append(line)
        if event_id is None:
            return None, b""
        if not lines:  # the position the stream starts from
            if stream.position is None:
                stream.position = event_id
            return None, b""
        if lines[0] == b"event: resync":  # the centre cannot replay from where we were: not an event
            stream.errors.append("resync")
            return None, b""
        return event_id, b"\n".join(lines)

    def hear(self, stream: Stream, event_id: int, rest: bytes) -> None:
        """What a console or crew does with an event it heard (most: nothing)."""
        kind, _, data = rest.partition(b"\n")
        if stream.role == "call_taker":
            if kind == b"event: call" and b'"phone"' in data:
                change = json.loads(data[6:])
                if change["id"] % self.takers == stream.index:
                    self.client.spawn(self.take_call(stream, change))
        elif stream.role == "dispatcher":
            if kind == b"event: incident" and b'"number"' in data:
                change = json.loads(data[6:])
                if change["id"] % self.dispatchers == stream.index:
                    self.client.spawn(self.send_unit(stream, change["id"]))
        elif kind == b"event: unit" and b'"assigned"' in data:
            change = json.loads(data[6:])
            if change.get("id") == stream.unit_id and change.get("status") == "assigned":
                self.client.spawn(self.crew_job(stream))

    async def later(self, low_s: float, high_s: float) -> bool:
        await asyncio.sleep(self.rng.uniform(low_s, high_s))
        return time.time() < self.until

    async def take_call(self, stream: Stream, change: dict[str, Any]) -> None:
        """The call-taker picks up, opens the call and, for a share of them, makes the incident."""
        client, call_id = self.client, change["id"]
        if not await self.later(0.3, 1.5):
            return
        if change.get("state") == "ringing":
            await client.request("answer", "POST", f"/api/v1/calls/{call_id}/answer", token=stream.token)
        _, call = await client.request("call_open", "GET", f"/api/v1/calls/{call_id}", token=stream.token, want=True)
        if call is None or call.get("incident_id") or self.rng.random() >= self.plan["incident_share"]:
            return
        if not await self.later(1.0, 3.0):
            return
        story = city.story(self.rng, 0.0)
        body: dict[str, Any] = {
            "type": story.incident_type,
            "priority": story.priority,
            "description": story.description,
            "call_id": call_id,
        }
        if not call.get("location"):
            lat, lon = self.rng.choice(self.plan["places"])
            body["location"] = {"lat": lat, "lon": lon, "accuracy_m": 50, "source": "manual"}
        _, incident = await client.request(
            "incident_create", "POST", "/api/v1/incidents", token=stream.token, body=body, want=True
        )
        if incident is not None:
            client.ack("incidents", incident["id"])

    async def send_unit(self, stream: Stream, incident_id: int) -> None:
        """The dispatcher asks for the recommendations and sends the first unit free."""
        client = self.client
        if not await self.later(0.3, 1.5):
            return
        _, offer = await client.request(
            "recommend", "GET", f"/api/v1/incidents/{incident_id}/recommendations", token=stream.token, want=True
        )
        if offer is None:
            return
        for candidate in [r["unit_id"] for r in offer.get("recommendations", [])][:3]:
            if candidate in self.busy:
                continue
            self.busy.add(candidate)
            status, assignment = await client.request(
                "assign",
                "POST",
                f"/api/v1/incidents/{incident_id}/assignments",
                token=stream.token,
                body={"unit_id": candidate},
                want=True,
            )
            if assignment is not None:
                client.ack("assignments", assignment["id"])
                self.job[candidate] = (incident_id, stream.token)
                return
            self.busy.discard(candidate)
            if status != 409:  # taken meanwhile: the next one; anything else: leave it
                return

    async def crew_job(self, stream: Stream) -> None:
        """The crew's phone opens the job, then the crew moves through its statuses and clears."""
        client, unit_id = self.client, stream.unit_id
        await client.request("crew_job", "GET", "/api/v1/crew/job", token=stream.token)
        for status, (low, high) in (
            ("acknowledged", (1.0, 4.0)),
            ("en_route", (2.0, 6.0)),
            ("on_scene", (6.0, 14.0)),
            ("available", (6.0, 14.0)),
        ):
            if not await self.later(low, high):
                return
            code, _ = await client.request(
                "crew_status", "POST", f"/api/v1/units/{unit_id}/status", token=stream.token, body={"status": status}
            )
            if 200 <= code < 300:
                client.ack("statuses", [unit_id, status])
            await client.request("crew_job", "GET", "/api/v1/crew/job", token=stream.token)
        assert unit_id is not None
        self.busy.discard(unit_id)
        job = self.job.pop(unit_id, None)
        if job is not None and await self.later(0.5, 2.0):
            await client.request(
                "incident_close",
                "POST",
                f"/api/v1/incidents/{job[0]}/status",
                token=job[1],
                body={"status": "closed", "disposition": "selesai_ditangani"},
            )

    async def boards(self, stream: Stream) -> None:
        """A console's board, fetched again now and then (a browser does after every change,
        debounced by 150 ms: here at most every `board_every_s`)."""
        every = self.plan["board_every_s"]
        await asyncio.sleep(self.rng.uniform(0, every))
        while time.time() < self.until:
            if stream.role == "dispatcher":
                await asyncio.gather(
                    self.client.request("board_incidents", "GET", "/api/v1/incidents?status=open", token=stream.token),
                    self.client.request("board_units", "GET", "/api/v1/units", token=stream.token),
                )
            else:
                await self.client.request(
                    "board_calls", "GET", "/api/v1/calls?state=active&limit=50", token=stream.token
                )
            await asyncio.sleep(every)

    async def run(self) -> None:
        stop = asyncio.Event()
        order = list(self.streams)
        self.rng.shuffle(order)  # consoles and phones come up mixed, as over a morning
        holders = [asyncio.create_task(self.hold(s, stop)) for s in order]
        deadline = time.time() + self.plan["connect_wait_s"]
        while time.time() < deadline and any(s.connected_at is None for s in self.streams):
            await asyncio.sleep(0.2)
        connected = sum(s.connected_at is not None for s in self.streams)
        print(f"READY {connected} {len(self.streams)}", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        self.until = float(line.split()[1])
        self.acting = True
        lag = asyncio.create_task(self.client.watch_loop(self.until + self.plan["drain_s"]))
        boards = [asyncio.create_task(self.boards(s)) for s in self.streams if s.role != "crew"]
        await asyncio.sleep(max(0.0, self.until - time.time()))
        self.acting = False
        await asyncio.sleep(self.plan["drain_s"])  # what was sent last reaches the streams
        stop.set()
        for task in [*holders, *boards, lag, *self.client.tasks]:
            task.cancel()
        await asyncio.gather(*holders, *boards, lag, *self.client.tasks, return_exceptions=True)
        self.client.dump({"streams": [s.result() for s in self.streams]})


# --- the network and the vehicles ---------------------------------------------------------


class Devices:
    def __init__(self, client: Client, plan: dict[str, Any]) -> None:
        self.client, self.plan = client, plan
        self.rng = random.Random(plan["seed"] + 1)
        self.serial = itertools.count(1)
        self.validator = RequestValidator(plan["twilio_token"])
        self.sms_url = plan["url"] + "/telephony/twilio/sms"
        self.until = float("inf")

    async def vehicle(self, device: dict[str, Any], offset_s: float) -> None:
        """One unit's phone: a fix every `gps_every_s`, wandering a little around where it is."""
        lat, lon, every = device["lat"], device["lon"], self.plan["gps_every_s"]
        await asyncio.sleep(offset_s)
        next_at = time.perf_counter()
        while time.time() < self.until:
            lat += self.rng.uniform(-1.5e-4, 1.5e-4)
            lon += self.rng.uniform(-1.5e-4, 1.5e-4)
            stamp_ms = int(time.time() * 1000)
            query = urlencode(
                {
                    "id": device["token"],
                    "lat": f"{lat:.6f}",
                    "lon": f"{lon:.6f}",
                    "timestamp": stamp_ms,
                    "speed": f"{self.rng.uniform(0, 15) / KNOT_MPS:.1f}",
                    "bearing": f"{self.rng.uniform(0, 360):.0f}",
                    "accuracy": "8",
                    "batt": "80",
                }
            )
            self.client.spawn(self.fix(device["unit_id"], stamp_ms, query))
            next_at += every
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def fix(self, unit_id: int, stamp_ms: int, query: str) -> None:
        status, _ = await self.client.request("gps", "GET", f"/gps/osmand?{query}")
        if 200 <= status < 300:
            self.client.ack("fixes", (unit_id, stamp_ms))

    async def callers(self) -> None:
        """112 calls and texts arriving as a Poisson stream at the surge's rate."""
        rate = self.plan["calls_per_s"]
        while True:
            await asyncio.sleep(self.rng.expovariate(rate))
            if time.time() >= self.until:
                return
            name, phone = city.caller(self.rng)
            lat, lon = self.rng.choice(self.plan["places"])
            if self.rng.random() < self.plan["text_share"]:
                self.client.spawn(self.text(phone, lat, lon))
            else:
                self.client.spawn(self.call(name, phone, lat, lon))

    async def call(self, name: str, phone: str, lat: float, lon: float) -> None:
        """A call as the SIP agent's courier reports it: the INVITE, then the caller hanging up."""
        n = next(self.serial)
        sip_call_id = f"shift-{self.plan['run']}-{n}@bench"
        invite = {
            "id": f"{sip_call_id}-invite",
            "kind": "invite",
            "sip_call_id": sip_call_id,
            "phone": phone,
            "name": name,
            "received_at": datetime.now(UTC).isoformat(),
            "contact": f"<sip:{phone[1:]}@127.0.0.1:5062>",
            "location": {"lat": lat, "lon": lon, "accuracy_m": round(self.rng.uniform(8, 60), 1)},
        }
        token = self.plan["intake_token"]
        status, _ = await self.client.request("sip_invite", "POST", "/telephony/sip/events", token=token, body=invite)
        if not 200 <= status < 300:
            return
        self.client.ack("calls", sip_call_id)
        await asyncio.sleep(self.plan["hold_s"])
        end = {
            "id": f"{sip_call_id}-end",
            "kind": "end",
            "sip_call_id": sip_call_id,
            "ended_at": datetime.now(UTC).isoformat(),
            "reason": "bye",
        }
        await self.client.request("sip_end", "POST", "/telephony/sip/events", token=token, body=end)

    async def text(self, phone: str, lat: float, lon: float) -> None:
        """A text as Twilio delivers it (signed form), then the handset's AML with its place."""
        story = city.story(self.rng, 1.0)
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        for body in (story.description, city.aml(lat, lon, 15, stamp)):
            sid = f"SMshift{self.plan['run']}{next(self.serial):08d}"
            form = {"MessageSid": sid, "AccountSid": "ACshift", "From": phone, "To": "+62112", "Body": body}
            headers = {
                "X-Twilio-Signature": self.validator.compute_signature(self.sms_url, form),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            status, _ = await self.client.request(
                "sms", "POST", "/telephony/twilio/sms", form=urlencode(form), headers=headers
            )
            if 200 <= status < 300:
                self.client.ack("texts", sid)
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))

    async def run(self) -> None:
        print("READY", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        self.until = float(line.split()[1])
        devices = self.plan["devices"]
        every = self.plan["gps_every_s"]
        await asyncio.gather(
            self.callers(),
            self.client.watch_loop(self.until),
            *(self.vehicle(d, every * i / len(devices)) for i, d in enumerate(devices)),
        )
        deadline = time.time() + self.plan["request_timeout_s"] + 2
        while self.client.tasks and time.time() < deadline:  # answers still on their way
            await asyncio.sleep(0.1)
        for task in list(self.client.tasks):
            task.cancel()
        await asyncio.gather(*self.client.tasks, return_exceptions=True)
        self.client.dump({})


async def main(side: str, plan_path: str) -> None:
    plan = json.loads(Path(plan_path).read_text())
    async with Client(plan) as client:
        if side == "people":
            await People(client, plan).run()
        else:
            await Devices(client, plan).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
