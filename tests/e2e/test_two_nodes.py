"""Two centre nodes on one PostgreSQL behind HAProxy (deploy/haproxy.cfg, tests/cluster.py): one node
dies in the middle of a surge (SIGKILL to gunicorn's master and workers and to its scheduler, a crash
or a machine switched off) and nothing is lost, no client sees more than a retry, and every console's
stream resumes where it stopped on the other node."""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import factories as f
import pytest
import requests
import sqlalchemy as sa
from cluster import Cluster, Node
from console_session import http_login
from live import INTAKE_TOKEN, sse_blocks, wait_for
from twilio.request_validator import RequestValidator

from cad.db import db
from cad.models import Assignment, AuditEntry, Call, Incident, LiveEvent, Message, Position, Role, SchedulerLease, Unit

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

TWILIO = "twilio-e2e"
PASSWORD = "two-nodes-112"
BEFORE_KILL_S = 4.0
AFTER_KILL_S = 6.0


@dataclass
class Outcome:
    """One HTTP exchange as the client saw it."""

    started: float
    what: str
    status: int | None  # None: no answer (connection refused, reset, timed out)
    node: str | None  # X-Served-By: the node HAProxy gave it to
    error: str = ""  # what the client said when there was no answer


@dataclass
class Client:
    """A device or a person talking to the centre through HAProxy, resending what was not taken."""

    name: str
    url: str
    exchanges: list[Outcome] = field(default_factory=list)
    delivered: int = 0
    retried: int = 0  # resends after a failure
    session: requests.Session = field(default_factory=requests.Session)

    def send(self, what: str, request: Callable[[requests.Session], requests.Response]) -> requests.Response | None:
        started = time.monotonic()
        try:
            answer = request(self.session)
        except requests.RequestException as error:
            self.exchanges.append(Outcome(started, what, None, None, repr(error)[:300]))
            self.session = requests.Session()  # a fresh connection, as a client does after an error
            return None
        self.exchanges.append(Outcome(started, what, answer.status_code, answer.headers.get("X-Served-By")))
        return answer

    def deliver(
        self,
        what: str,
        request: Callable[[requests.Session], requests.Response],
        taken: Callable[[requests.Response], bool] = lambda answer: answer.ok,
        timeout_s: float = 60,
    ) -> requests.Response:
        """Send until the centre takes it, as Traccar Client, Twilio and the SIP agent's courier do."""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self.send(what, request)
            if answer is not None and taken(answer):
                self.delivered += 1
                return answer
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what} not taken in {timeout_s:g} s: {self.exchanges[-3:]}")
            self.retried += 1
            time.sleep(0.3)


@dataclass
class Surge:
    """GPS fixes, 112 calls from the SIP agents' courier, SMS from Twilio and a dispatcher assigning
    units, all through HAProxy at once; each actor a thread of its own."""

    url: str
    devices: dict[int, str]  # unit id → GPS device token
    pairs: list[tuple[int, int]]  # (incident id, unit id) the dispatcher assigns, in order
    dispatcher_token: str
    stop: threading.Event = field(default_factory=threading.Event)
    killed_at: float | None = None
    fixes: dict[int, list[int]] = field(default_factory=dict)  # unit id → fix times sent (ms)
    calls: list[str] = field(default_factory=list)  # SIP Call-IDs delivered
    texts: list[str] = field(default_factory=list)  # MessageSids delivered
    assigned: list[tuple[int, int]] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    def client(self, name: str) -> Client:
        made = Client(name, self.url)
        self.clients.append(made)
        return made

    def start(self) -> None:
        actors: list[Callable[[], None]] = [lambda u=u, t=t: self._gps(u, t) for u, t in self.devices.items()]
        actors += [self._courier, self._twilio, self._dispatcher]
        for actor in actors:
            thread = threading.Thread(target=self._guarded, args=(actor,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(90)
        assert not self.errors, self.errors
        assert not any(t.is_alive() for t in self._threads), "an actor did not finish"

    def _guarded(self, actor: Callable[[], None]) -> None:
        try:
            actor()
        except BaseException as error:  # the test's thread reports it
            self.errors.append(error)

    def _gps(self, unit_id: int, token: str) -> None:
        device = self.client(f"GPS of unit {unit_id}")
        sent = self.fixes.setdefault(unit_id, [])
        step = 0
        while not self.stop.is_set():
            at_ms = int(time.time() * 1000)
            fix = {"id": token, "lat": -1.2650 + step * 1e-4, "lon": 116.8400, "timestamp": at_ms, "speed": 8}
            device.deliver("fix", lambda s, fix=fix: s.get(self.url + "/gps/osmand", params=fix, timeout=10))
            sent.append(at_ms)
            step += 1
            time.sleep(0.2)

    def _courier(self) -> None:
        courier = self.client("SIP agent's courier")
        headers = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
        while not self.stop.is_set():
            call_id = f"{uuid.uuid4()}@two-nodes"
            entry = {
                "id": uuid.uuid4().hex,
                "kind": "invite",
                "sip_call_id": call_id,
                "phone": f"+62812{len(self.calls):07d}",
                "received_at": datetime.now(UTC).isoformat(),
                "location": {"lat": -1.2670, "lon": 116.8310, "accuracy_m": 30, "method": "GPS"},
            }
            courier.deliver(
                "INVITE",
                lambda s, e=entry: s.post(self.url + "/telephony/sip/events", json=e, headers=headers, timeout=10),
            )
            self.calls.append(call_id)
            time.sleep(0.25)

    def _twilio(self) -> None:
        twilio = self.client("Twilio")
        public = self.url + "/telephony/twilio/sms"
        while not self.stop.is_set():
            sid = "SM" + uuid.uuid4().hex
            form = {"MessageSid": sid, "From": f"+62813{len(self.texts):07d}", "To": "+62112", "Body": "Kebakaran"}
            headers = {
                "X-Twilio-Signature": RequestValidator(TWILIO).compute_signature(public, form),
                "Content-Type": "application/x-www-form-urlencoded",
            }
            body = urlencode(form)
            twilio.deliver("SMS", lambda s, b=body, h=headers: s.post(public, data=b, headers=h, timeout=10))
            self.texts.append(sid)
            time.sleep(0.5)

    def _dispatcher(self) -> None:
        """Assigns the next unit, then looks at the board, as at a console; an assignment whose answer
        was lost is asked again (409 then means the lost one was made: the board says so)."""
        person = self.client("dispatcher")
        auth = {"Authorization": f"Bearer {self.dispatcher_token}"}
        for incident_id, unit_id in self.pairs:
            if self.stop.is_set():
                return

            def assign(s: requests.Session, i: int = incident_id, u: int = unit_id) -> requests.Response:
                return s.post(
                    f"{self.url}/api/v1/incidents/{i}/assignments", json={"unit_id": u}, headers=auth, timeout=10
                )

            def made(answer: requests.Response, i: int = incident_id, u: int = unit_id) -> bool:
                if answer.status_code == 201:
                    return True
                if answer.status_code != 409 or not person.retried:
                    return False
                board = person.session.get(f"{self.url}/api/v1/incidents/{i}", headers=auth, timeout=10).json()
                return any(a["unit_id"] == u for a in board.get("assignments", []))

            person.deliver("assignment", assign, made)
            self.assigned.append((incident_id, unit_id))
            person.send("board", lambda s: s.get(self.url + "/api/v1/incidents?status=open", headers=auth, timeout=10))
            person.send("units", lambda s: s.get(self.url + "/api/v1/units", headers=auth, timeout=10))
            time.sleep(0.3)


def _kill_mid_surge(cluster: Cluster, surge: Surge, victim: Node) -> float:
    """Run the surge, kill `victim` in its middle; seconds until HAProxy had it down."""
    surge.start()
    time.sleep(BEFORE_KILL_S)
    victim.kill()
    pids = victim.web_pids()
    assert wait_for(lambda: not victim.web_pids() or None, timeout_s=10), f"still alive: {pids}"
    surge.killed_at = time.monotonic()
    down = wait_for(lambda: cluster.balancer.states().get(victim.name, "").startswith("DOWN") or None, timeout_s=10)
    detected_s = time.monotonic() - surge.killed_at
    assert down, cluster.balancer.states()
    time.sleep(max(0.0, AFTER_KILL_S - detected_s))
    surge.finish()
    return detected_s


def _setup(cluster: Cluster, units: int = 4, assignments: int = 24) -> Surge:
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    devices = {}
    for n in range(units):
        unit = f.unit(f"DMK-{n + 1:02d}")
        devices[unit.id] = f.device_token(unit)
    spare = [f.unit(f"AMB-{n + 1:02d}", "ambulance", agency_code="ambulans").id for n in range(assignments)]
    incidents = []
    for n in range(assignments):
        made = requests.post(
            cluster.url + "/api/v1/incidents",
            json={"type": "medis", "priority": 2, "location": {"lat": -1.27, "lon": 116.835}, "description": f"#{n}"},
            headers=headers,
            timeout=10,
        )
        assert made.status_code == 201, made.text
        incidents.append(made.json()["id"])
    return Surge(cluster.url, devices, list(zip(incidents, spare, strict=True)), token)


def _lease_holder() -> str | None:
    db.session.rollback()
    return db.session.scalar(sa.select(SchedulerLease.holder))


def test_a_node_killed_mid_surge_loses_nothing_and_the_dispatcher_does_not_notice(two_nodes: Cluster) -> None:
    a, b = two_nodes.node("a"), two_nodes.node("b")
    assert a.scheduler is not None and b.scheduler is not None
    holder = wait_for(_lease_holder, timeout_s=30)
    victim, survivor = (a, b) if holder.endswith(f":{a.scheduler.pid}") else (b, a)
    surge = _setup(two_nodes)
    detected_s = _kill_mid_surge(two_nodes, surge, victim)
    killed_at = surge.killed_at
    assert killed_at is not None

    exchanges = [x for c in surge.clients for x in c.exchanges]
    before = Counter(x.node for x in exchanges if x.started < killed_at and x.status)
    assert before[victim.name] > 0 and before[survivor.name] > 0, before  # both nodes carried the surge
    late = [x for x in exchanges if x.started > killed_at + detected_s + 1]
    assert late and {x.node for x in late} == {survivor.name}

    # every GPS fix, call and text the senders were told was taken is on record, once
    db.session.rollback()
    for unit_id, sent in surge.fixes.items():
        stored = db.session.scalars(sa.select(Position.fix_at).where(Position.unit_id == unit_id)).all()
        assert sorted(round(at.timestamp() * 1000) for at in stored) == sorted(sent), unit_id
    calls = Counter(db.session.scalars(sa.select(Call.sip_call_id).where(Call.sip_call_id.like("%@two-nodes"))))
    assert calls == Counter(surge.calls)
    texts = Counter(db.session.scalars(sa.select(Message.external_id).where(Message.external_id.like("twilio:%"))))
    assert texts == Counter(f"twilio:{sid}" for sid in surge.texts)
    # each text (from a number of its own) opened one incident, never two
    opened = db.session.scalar(sa.select(sa.func.count()).where(Incident.description == "SMS: Kebakaran"))
    assert opened == len(surge.texts)
    # every assignment the dispatcher made is on record once, none twice
    made = Counter((i, u) for i, u in db.session.execute(sa.select(Assignment.incident_id, Assignment.unit_id)))
    assert made == Counter(surge.assigned)

    # the dispatcher's next request after the kill, and every one of theirs that reads, just worked
    dispatcher = next(c for c in surge.clients if c.name == "dispatcher")
    exchanges = dispatcher.exchanges
    first = next((n for n, x in enumerate(exchanges) if x.started > killed_at), None)
    assert first is not None and first > 0, exchanges[-3:]

    def asked_again(n: int) -> bool:
        """409 for an assignment asked again because the dying node made it but never answered."""
        earlier, now = exchanges[n - 1], exchanges[n]
        lost = earlier.what == "assignment" and (earlier.status is None or earlier.status >= 500)
        return now.what == "assignment" and now.status == 409 and lost

    assert exchanges[first].status is not None, exchanges[first : first + 3]
    assert 200 <= exchanges[first].status < 300 or asked_again(first), exchanges[first - 1 : first + 3]
    first_post = next(n for n, x in enumerate(exchanges) if x.what == "assignment" and x.started > killed_at)
    made_now = exchanges[first_post]
    assert made_now.status == 201 or asked_again(first_post), exchanges[first_post - 1 : first_post + 1]
    reads = [x for x in dispatcher.exchanges if x.what in ("board", "units")]
    assert all(x.status == 200 for x in reads), [x for x in reads if x.status != 200]

    # the scheduler on the surviving node took the lease over (its TTL is 15 s)
    assert survivor.scheduler is not None
    took = wait_for(lambda: (_lease_holder() or "").endswith(f":{survivor.scheduler.pid}") or None, timeout_s=40)
    assert took, _lease_holder()

    log = two_nodes.balancer.output()
    # httplog's fields: …/retries, "+" when the retry went to another node
    replayed = len(re.findall(r" [-\w]{4} \d+/\d+/\d+/\d+/\+\d+ ", log))
    assert "?id=" not in log  # the OsmAnd device tokens never reach HAProxy's log
    print(
        f"\nnode {victim.name} killed after {BEFORE_KILL_S:g} s of surge, DOWN at HAProxy {detected_s:.2f} s later; "
        f"{len(exchanges)} requests; HAProxy retried {replayed} on the other node; clients resent: "
        + ", ".join(f"{c.name} {c.retried} of {c.delivered}" for c in surge.clients)
    )
    for x in exchanges:
        if x.status is None or x.status >= 300:
            print(f"  failed at {x.started - killed_at:+.3f} s after the kill: {x}")


# --- the consoles' streams -------------------------------------------------------------------------


class StreamClient(threading.Thread):
    """What a browser's EventSource does with GET /api/v1/events: read the events, remember the last
    id, reconnect after the connection drops (after the server's `retry:`, else 1 s) sending
    `Last-Event-ID`. A browser gives up for good on an answer other than 200: those are counted."""

    def __init__(self, url: str, session: requests.Session, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.url, self.session = url, session
        self.last_id: str | None = None
        self.start_id: int | None = None  # the position the first connection announced
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.connections: list[tuple[str | None, int]] = []  # (node, status) of each connection
        self.retry_s = 1.0
        self.stopped = threading.Event()
        self._answer: requests.Response | None = None
        self.first_connection = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            try:
                with self.session.get(self.url + "/api/v1/events", headers=headers, stream=True, timeout=(5, 40)) as r:
                    self._answer = r
                    self.connections.append((r.headers.get("X-Served-By"), r.status_code))
                    self.first_connection.set()
                    if r.status_code == 200:
                        self._read(r)
            except (requests.RequestException, AttributeError, ValueError):
                pass  # the connection dropped (or was closed by stop())
            self.stopped.wait(self.retry_s)

    def _read(self, answer: requests.Response) -> None:
        for block in sse_blocks(answer.iter_lines(decode_unicode=True)):
            if block.retry_ms is not None:
                self.retry_s = block.retry_ms / 1000
            if block.id is not None:
                self.last_id = str(block.id)
            if block.kind not in (":", ""):
                self.events.append((block.id, block.kind, block.data))
            elif self.start_id is None and not self.events:  # the position the stream starts from
                self.start_id = block.id

    def ids(self) -> set[int]:
        return {event_id for event_id, _, _ in self.events}

    def close(self) -> None:
        self.stopped.set()
        if self._answer is not None:
            self._answer.close()
        self.join(20)


def _console(cluster: Cluster, username: str) -> requests.Session:
    """A logged-in console session, through HAProxy (the login page and the form may meet different
    nodes: they share SECRET_KEY)."""
    session = http_login(cluster.url, username, PASSWORD)
    assert session is not None, f"{username} could not log in"
    return session


def _crew_may_see(own: int, kind: str, data: dict[str, Any]) -> bool:
    """Its own unit's events: the unit itself, its assignments."""
    return data.get("unit_id") == own or (kind == "unit" and data.get("id") == own)


def _of_another_unit(own: int, kind: str, data: dict[str, Any]) -> bool:
    return data.get("unit_id") not in (None, own) or (kind == "unit" and data.get("id") != own)


def test_consoles_streams_resume_on_the_other_node_with_every_event(two_nodes: Cluster) -> None:
    """Needs the stream's resume from Last-Event-ID (the stream rewrite): before it, a reconnected
    console misses what happened while it was away, and this test says how many."""
    surge = _setup(two_nodes)
    crew_units = list(surge.devices)[:2]
    f.user(Role.DISPATCHER, "meja-1", password=PASSWORD)
    f.user(Role.DISPATCHER, "meja-2", password=PASSWORD)
    db.session.rollback()
    for n, unit_id in enumerate(crew_units):
        f.user(Role.CREW, f"kru-{n}", unit=db.session.get(Unit, unit_id), password=PASSWORD)
    # the dispatcher sends the crews' own units too
    surge.pairs[3] = (surge.pairs[3][0], crew_units[0])
    surge.pairs[7] = (surge.pairs[7][0], crew_units[1])

    db.session.rollback()
    position = db.session.scalar(sa.select(sa.func.max(LiveEvent.id))) or 0
    clients: list[tuple[StreamClient, int | None]] = []  # (client, the crew's unit or None)
    victim = two_nodes.node("a")

    def open_stream(username: str, unit_id: int | None) -> StreamClient:
        client = StreamClient(two_nodes.url, _console(two_nodes, username), f"{username}#{len(clients) + 1}")
        client.start()
        assert client.first_connection.wait(10), username
        clients.append((client, unit_id))
        return client

    open_stream("meja-1", None)
    open_stream("meja-2", None)
    open_stream("kru-0", crew_units[0])
    open_stream("kru-1", crew_units[1])

    def kinds_on_victim() -> set[bool]:  # True: a dispatcher's console, False: a crew phone
        return {unit is None for c, unit in clients if c.connections[0][0] == victim.name}

    for n in range(4):  # leastconn spreads them: more until a console and a crew phone are on the victim
        if kinds_on_victim() == {True, False}:
            break
        if False in kinds_on_victim():
            open_stream("meja-1", None)
        else:
            open_stream(f"kru-{n % 2}", crew_units[n % 2])
    assert kinds_on_victim() == {True, False}, [(c.name, c.connections) for c, _ in clients]
    assert all(c.connections[0][1] == 200 for c, _ in clients)

    _kill_mid_surge(two_nodes, surge, victim)
    db.session.rollback()
    written = db.session.execute(
        sa.select(LiveEvent.id, LiveEvent.kind, LiveEvent.data).where(LiveEvent.id > position).order_by(LiveEvent.id)
    ).all()
    assert written, "the surge wrote no live events"

    def expected(client: StreamClient, unit_id: int | None) -> set[int]:
        start = client.start_id if client.start_id is not None else position
        return {i for i, kind, data in written if i > start and (unit_id is None or _crew_may_see(unit_id, kind, data))}

    def caught_up(client: StreamClient, unit_id: int | None) -> bool:
        """Read as far as the last event written for it (with gaps or not: `missed` says)."""
        wanted = expected(client, unit_id)
        return not wanted or (bool(client.ids()) and max(client.ids()) >= max(wanted))

    deadline = time.monotonic() + 30
    while not all(caught_up(c, u) for c, u in clients) and time.monotonic() < deadline:
        time.sleep(0.1)
    for client, _ in clients:
        client.close()

    cut = [c for c, _ in clients if c.connections[0][0] == victim.name]
    assert all(len(c.connections) >= 2 for c in cut), [(c.name, c.connections) for c in cut]
    refused = [(c.name, c.connections) for c, _ in clients if any(status != 200 for _, status in c.connections)]
    assert not refused  # a browser's EventSource would have given up on these
    missed = {c.name: sorted(expected(c, u) - c.ids()) for c, u in clients}
    print(
        f"\n{len(clients)} streams, {len(cut)} on node {victim.name}, reconnected "
        f"{sum(len(c.connections) - 1 for c, _ in clients)} times; events written {len(written)}; missed "
        + ", ".join(f"{name} {len(ids)}" for name, ids in missed.items())
    )
    assert not any(missed.values()), missed
    for client, unit_id in clients:
        if unit_id is not None:  # a crew hears nothing of other units
            assert not [e for e in client.events if _of_another_unit(unit_id, e[1], e[2])], client.name


# --- the client's address ------------------------------------------------------------------------------


def test_the_centre_sees_the_clients_address_through_haproxy_never_a_forged_one(two_nodes: Cluster) -> None:
    """HAProxy appends the client's address (`option forwardfor`), the nodes believe the last one only
    (WARROOM_PROXIES=1): the audit log, the login lockout and the GPS limit count the real client."""
    _, headers = f.user(Role.DISPATCHER)
    where = urlsplit(two_nodes.url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10, source_address=("127.0.0.2", 0))
    body = json.dumps({"type": "medis", "priority": 3, "location": {"lat": -1.27, "lon": 116.835}})
    connection.request(
        "POST",
        "/api/v1/incidents",
        body=body,
        headers={**headers, "Content-Type": "application/json", "X-Forwarded-For": "10.9.9.9"},
    )
    answer = connection.getresponse()
    assert answer.status == 201, answer.read()[:300]
    connection.close()
    db.session.rollback()
    addresses = db.session.scalars(sa.select(AuditEntry.ip).where(AuditEntry.target == "/api/v1/incidents")).all()
    assert addresses == ["127.0.0.2"]
