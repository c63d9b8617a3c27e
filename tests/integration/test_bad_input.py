"""Bad input on every endpoint: a 4xx in the one error shape, naming the field; never a 500,
never a half-written incident.

Which endpoints: the app's own url_map, not a list kept by hand. Every route that takes a body
(POST, PATCH, PUT, DELETE) and every GET that takes query parameters is exercised below or
excused in `EXCUSED` with the reason, and `test_every_endpoint_is_exercised_or_excused` fails
for a new one that is neither. Random input is reproducible: it comes from `SEED` (printed with
every failure; WARROOM_FUZZ_SEED=n replays another) and the endpoint, never from `hash()`, which
changes with each process."""

import json
import os
import random
import re
import tempfile
from collections.abc import Callable
from urllib.parse import quote

import factories as f
import pytest
from console_session import login, token_of
from factories import person
from fake_twilio import sms
from flask import Flask
from flask.testing import FlaskClient

from cad.api.spec import OPERATIONS, Operation
from cad.app import close_app, create_app
from cad.config import Settings
from cad.db import db
from cad.models import Incident, Role

SEED = int(os.environ.get("WARROOM_FUZZ_SEED", "20261203"))
INTAKE_TOKEN = "bad-input-intake"


def _routes() -> frozenset[tuple[str, str]]:
    """(method, rule) of every route the app serves, read from a throwaway app's url_map (making
    the app also registers every blueprint's operations in OPERATIONS)."""
    with tempfile.TemporaryDirectory() as folder:
        env = {"DATABASE_URL": f"sqlite:///{folder}/routes.sqlite", "WARROOM_INSTANCE": folder, "WARROOM_ROADS": ""}
        app = create_app({"TESTING": True}, settings=Settings.from_env(env))
        try:
            return frozenset(
                (method, rule.rule)
                for rule in app.url_map.iter_rules()
                for method in rule.methods - {"HEAD", "OPTIONS"}
            )
        finally:
            close_app(app)


ROUTES = _routes()
OPS = {(o.method.upper(), o.rule): o for o in OPERATIONS if (o.method.upper(), o.rule) in ROUTES}
API_OPS = [o for o in OPS.values() if o.rule.startswith("/api/v1/") and o.endpoint != "api.events"]
BODY_OPS = [o for o in API_OPS if o.body is not None]
QUERY_OPS = [o for o in API_OPS if o.query is not None]
BODILESS_OPS = [o for o in API_OPS if o.body is None and o.method != "get"]

#: Routes outside the API's operations, each exercised by the test named.
SIP_INTAKE = [("POST", "/telephony/sip/events"), ("POST", "/telephony/sip/outbox/<int:message_id>")]
SIP_POLL = ("POST", "/telephony/sip/outbox/claim")
SMS = ("POST", "/telephony/twilio/sms")
OSMAND = [("GET", "/gps/osmand"), ("POST", "/gps/osmand")]
FORMS = [("POST", "/login"), ("POST", "/language"), ("POST", "/logout")]
CREW_LINK = [("GET", "/c/<code>"), ("POST", "/c/<code>/status"), ("POST", "/c/<code>/decline")]
PAGES_WITH_PARAMETERS = [("GET", "/login"), ("GET", "/crew"), ("GET", "/manager"), ("GET", "/admin/audit")]
STATIC = [("GET", "/static/<path:filename>"), ("GET", "/static/consoles/<path:filename>")]

#: Routes in scope that nothing here sends bad input to, and why.
EXCUSED = {
    ("GET", "/"): "only redirects to the reader's console; reads no parameter",
    ("GET", "/calltaker"): "the page reads no query parameter (its script asks the API)",
    ("GET", "/dispatcher"): "the page reads no query parameter (its script asks the API)",
    ("GET", "/manager/reports"): "the page reads no query parameter",
    ("GET", "/api/v1/health"): "reads nothing from the request",
    ("GET", "/api/v1/openapi.json"): "reads nothing from the request",
}

EXERCISED = {(o.method.upper(), o.rule) for o in BODY_OPS + QUERY_OPS + BODILESS_OPS} | {
    *SIP_INTAKE,
    SIP_POLL,
    SMS,
    *OSMAND,
    *FORMS,
    *CREW_LINK,
    *PAGES_WITH_PARAMETERS,
    *STATIC,
}


def _in_scope(method: str, rule: str) -> bool:
    """A route that takes a body, or a GET that reads query parameters (an API operation says
    so in its `query` model; a page or any other route is in scope until excused)."""
    if method != "GET":
        return True
    op = OPS.get((method, rule))
    return op is None or op.query is not None


def test_every_endpoint_is_exercised_or_excused() -> None:
    in_scope = {route for route in ROUTES if _in_scope(*route)}
    assert ("POST", "/api/v1/positions") in EXERCISED
    assert sorted(in_scope - EXERCISED - set(EXCUSED)) == [], "send it bad input below, or excuse it with a reason"
    assert sorted((EXERCISED | set(EXCUSED)) - ROUTES) == [], "no such route any more"
    assert sorted(EXERCISED & set(EXCUSED)) == []


def _rng(*key: object) -> random.Random:
    """The same draws every run for the same SEED and endpoint (a string seed is hashed stably)."""
    print(f"random input from WARROOM_FUZZ_SEED={SEED}")  # shown with a failure's captured output
    return random.Random(f"{SEED}:" + ":".join(map(str, key)))


#: Hostile bodies every JSON endpoint must refuse with a 4xx: nested ten times deeper than
#: Python's recursion limit, and one value of over a megabyte.
DEEP_ARRAY = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
HUGE = json.dumps({"x": "y" * 1_100_000})


def _headers_for(op: Operation) -> dict[str, str]:
    """A caller allowed to use `op`: an administrator, or a unit's device for the GPS intake."""
    if not op.roles:
        return {"Authorization": f"Bearer {f.device_token(f.unit('DMK-99'))}"}
    return f.user(Role.ADMIN)[1]


def _path(rule: str, value: object = 999999) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", str(value), rule)


def _assert_error(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["message"]
    if field is not None:
        assert body["error"]["field"] == field, body
    return body["error"]


@pytest.mark.parametrize("op", API_OPS, ids=lambda o: f"{o.method} {o.rule}")
def test_no_token_or_a_bad_one_is_401(client: FlaskClient, op) -> None:
    send = getattr(client, op.method)
    _assert_error(send(_path(op.rule)), 401, "Authorization")
    _assert_error(send(_path(op.rule), headers={"Authorization": "Bearer wr_forged"}), 401, "Authorization")
    _assert_error(send(_path(op.rule), headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401)


@pytest.mark.parametrize(
    "op", [o for o in API_OPS if o.roles and set(Role) - o.roles], ids=lambda o: f"{o.method} {o.rule}"
)  # an operation for no role is a device's (its token is the unit's): 401 above
def test_wrong_role_is_403(client: FlaskClient, op) -> None:
    role = sorted(set(Role) - op.roles)[0]
    _, headers = f.user(role)
    error = _assert_error(getattr(client, op.method)(_path(op.rule), json={}, headers=headers), 403)
    assert str(role) in error["message"]


@pytest.mark.parametrize("op", BODY_OPS, ids=lambda o: f"{o.method} {o.rule}")
def test_malformed_bodies(client: FlaskClient, op) -> None:
    headers = _headers_for(op)
    send = getattr(client, op.method)
    path = _path(op.rule)
    _assert_error(send(path, data="{not json", headers={**headers, "Content-Type": "application/json"}), 400, "body")
    _assert_error(
        send(path, data="status=closed", headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}),
        415,
        "body",
    )
    _assert_error(send(path, json=[1, 2], headers=headers), 400)
    _assert_error(send(path, data=b"\xff\xfe", headers={**headers, "Content-Type": "application/json"}), 400)
    extra = send(path, json={"surprise": 1}, headers=headers)
    assert extra.status_code == 400
    for hostile in (DEEP_ARRAY, DEEP_OBJECT):
        _assert_error(send(path, data=hostile, headers={**headers, "Content-Type": "application/json"}), 400, "body")
    _assert_error(send(path, data=HUGE, headers={**headers, "Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("op", BODY_OPS, ids=lambda o: f"{o.method} {o.rule}")
def test_oversized_fields_are_refused_naming_one(client: FlaskClient, op) -> None:
    """Every field of the body a string of 200 000 characters: refused, and the refusal says which."""
    headers = _headers_for(op)
    body = {name: "ñ" * 200_000 for name in op.body.model_fields}
    error = _assert_error(getattr(client, op.method)(_path(op.rule), json=body, headers=headers), 400)
    assert error["field"], error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "kebakaran", "priority": "1", "address": "x"}, "priority"),
        ({"type": "kebakaran", "priority": 5, "address": "x"}, "priority"),
        ({"type": "kebakaran", "priority": 1.5, "address": "x"}, "priority"),
        ({"type": "earthquake", "priority": 1, "address": "x"}, "type"),
        ({"priority": 1, "address": "x"}, "type"),
        ({"type": "medis", "priority": 1}, None),  # neither location nor address
        ({"type": "medis", "priority": 1, "location": {"lat": 91, "lon": 116.8}}, "location.lat"),
        ({"type": "medis", "priority": 1, "location": {"lat": -1.2, "lon": 181}}, "location.lon"),
        ({"type": "medis", "priority": 1, "location": {"lat": "-1.2", "lon": 116.8}}, "location.lat"),
        ({"type": "medis", "priority": 1, "location": {"lat": -1.2}}, "location.lon"),
        (
            {"type": "medis", "priority": 1, "location": {"lat": -1.2, "lon": 116.8, "accuracy_m": -3}},
            "location.accuracy_m",
        ),
        (
            {"type": "medis", "priority": 1, "location": {"lat": -1.2, "lon": 116.8, "source": "guess"}},
            "location.source",
        ),
        ({"type": "medis", "priority": 1, "address": "x" * 300}, "address"),
        ({"type": "medis", "priority": 1, "address": "x", "call_id": "7"}, "call_id"),
        ({"type": "medis", "priority": 1, "address": "x", "caller_phone": "not a phone"}, "caller_phone"),
        ({"type": "medis", "priority": 1, "address": "Jl. \u0000 Veteran"}, "address"),
    ],
)
def test_incident_fields_are_named(client: FlaskClient, body: dict, field: str | None) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    _assert_error(client.post("/api/v1/incidents", json=body, headers=headers), 400, field)
    assert db.session.query(Incident).count() == 0  # nothing half-written


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_coordinates_are_refused(client: FlaskClient, literal: str) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    raw = '{"type": "medis", "priority": 1, "location": {"lat": LAT, "lon": 116.8}}'.replace("LAT", literal)
    _assert_error(
        client.post("/api/v1/incidents", data=raw, headers={**headers, "Content-Type": "application/json"}),
        400,
        "location.lat",
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("get", "/api/v1/incidents/999999", None, "incident_id"),
        ("get", "/api/v1/incidents/999999/recommendations", None, "incident_id"),
        ("post", "/api/v1/incidents/999999/assignments", {"unit_id": 1}, "incident_id"),
        ("post", "/api/v1/incidents/999999/status", {"status": "closed", "disposition": "ganda"}, "incident_id"),
        ("get", "/api/v1/units/999999", None, "unit_id"),
        ("post", "/api/v1/units/999999/status", {"status": "en_route"}, "unit_id"),
        ("get", "/api/v1/calls/999999", None, "call_id"),
        ("post", "/api/v1/calls/999999/answer", None, "call_id"),
        ("post", "/api/v1/incidents", {"type": "medis", "priority": 1, "call_id": 999999}, "call_id"),
        ("get", "/api/v1/incidents/99999999999999999999999", None, None),
    ],
)
def test_unknown_ids_are_404_naming_the_field(
    client: FlaskClient, method: str, path: str, body: dict | None, field: str | None
) -> None:
    _, headers = f.user(Role.ADMIN)
    _assert_error(getattr(client, method)(path, json=body, headers=headers), 404, field)


def test_unknown_unit_in_an_assignment_is_404(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
    _assert_error(
        client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": 424242}, headers=headers),
        404,
        "unit_id",
    )
    assert client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()["status"] == "new"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/incidents?status=burning", "status"),
        ("/api/v1/incidents?limit=0", "limit"),
        ("/api/v1/incidents?limit=lots", "limit"),
        ("/api/v1/units?type=helicopter", "type"),
        ("/api/v1/calls?state=on_hold", "state"),
    ],
)
def test_bad_query_parameters(client: FlaskClient, path: str, field: str) -> None:
    _, headers = f.user(Role.ADMIN)
    _assert_error(client.get(path, headers=headers), 400, field)


def test_non_integer_path_ids_are_json_404(client: FlaskClient) -> None:
    _, headers = f.user(Role.ADMIN)
    assert client.get("/api/v1/incidents/abc", headers=headers).get_json()["error"]["code"] == "not_found"


def _junk(rng: random.Random, depth: int = 0) -> object:
    choices = [
        None,
        True,
        -1,
        0,
        10**20,
        3.5,
        "",
        "kebakaran",
        "<script>alert(1)</script>",
        "'; DROP TABLE units;--",
        "\u0000",
        "ñ" * 300,
    ]
    if depth < 2:
        choices += [[_junk(rng, depth + 1)], {"lat": _junk(rng, depth + 1), "lon": _junk(rng, depth + 1)}]
    return rng.choice(choices)


def _ids(client: FlaskClient) -> dict[str, int]:
    """Path ids that exist: junk reaches the body's checks, not only the 404 for the id."""
    _, headers = f.user(Role.ADMIN)
    unit = f.unit("DMK-01")
    incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
    call = client.post("/api/v1/calls", json={"phone": "0812000111"}, headers=headers).get_json()
    return {"incident_id": incident["id"], "unit_id": unit.id, "call_id": call["id"]}


def _fill(rule: str, ids: dict[str, int]) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule)


@pytest.mark.parametrize("op", BODY_OPS, ids=lambda o: f"{o.method} {o.rule}")
def test_random_junk_never_gives_a_500(app: Flask, client: FlaskClient, op) -> None:
    headers = _headers_for(op)
    path = _fill(op.rule, _ids(client))
    fields = list(op.body.model_fields)
    rng = _rng(op.method, op.rule)
    for _ in range(60):
        body = {name: _junk(rng) for name in fields if rng.random() < 0.8}
        response = getattr(client, op.method)(
            path, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code < 500, (SEED, body, response.get_data(as_text=True))
        if response.status_code >= 400:
            _assert_error(response, response.status_code)


QUERY_JUNK = ["", "-1", "0", "abc", "1e309", "nan", "9" * 40, "2026-13-45", "\u0000", "<script>", "ñ" * 5000, "a,b,,"]


@pytest.mark.parametrize("op", QUERY_OPS, ids=lambda o: f"{o.method} {o.rule}")
def test_random_query_parameters_never_give_a_500(client: FlaskClient, op) -> None:
    headers = _headers_for(op)
    path = _fill(op.rule, _ids(client))
    names = [*op.query.model_fields, "surprise"]
    rng = _rng(op.method, op.rule, "query")
    for _ in range(40):
        params = {name: rng.choice(QUERY_JUNK) for name in names if rng.random() < 0.7}
        query = "&".join(f"{quote(name.rstrip('_'))}={quote(value)}" for name, value in params.items())
        response = client.get(f"{path}?{query}", headers=headers)
        assert response.status_code < 500, (SEED, query[:300], response.get_data(as_text=True)[:500])
        if response.status_code >= 400:
            _assert_error(response, response.status_code)


@pytest.mark.parametrize("op", BODILESS_OPS, ids=lambda o: f"{o.method} {o.rule}")
def test_operations_without_a_body_are_not_upset_by_one(client: FlaskClient, op) -> None:
    """A body where none is read (junk, nested too deep, megabytes): ignored or refused, never a
    500; on an id that does not exist, a 404 naming it."""
    headers = _headers_for(op)
    send = getattr(client, op.method)
    for hostile in ("{not json", DEEP_ARRAY, HUGE):
        answer = send(_path(op.rule), data=hostile, headers={**headers, "Content-Type": "application/json"})
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.get_data(as_text=True)[:300])
        _assert_error(answer, answer.status_code)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_request_that_finds_no_free_database_connection_is_503_to_retry(app: Flask) -> None:
    """Every pooled connection busy (hundreds of requests at once on a gevent worker): the request
    waited, did nothing, and the client is told to come back, never a 500."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    def busy() -> None:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00")

    app.view_functions["api.health"] = busy
    answer = app.test_client().get("/api/v1/health")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "2"
    assert answer.get_json()["error"]["code"] == "database_busy"


# -- routes outside the API's operations ----------------------------------------------------------


@pytest.fixture
def intake(other_worker: Callable[..., Flask]) -> FlaskClient:
    """A worker of the centre that SIP agents may report to."""
    return other_worker(WARROOM_INTAKE_TOKEN=INTAKE_TOKEN).test_client()


@pytest.mark.parametrize(("method", "rule"), SIP_INTAKE)
def test_sip_agent_reports_refuse_bad_bodies_naming_the_field(intake: FlaskClient, method: str, rule: str) -> None:
    path = _path(rule, 1)
    agent = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
    _assert_error(intake.post(path, json={"id": "e1", "kind": "invite"}), 401, "Authorization")
    _assert_error(intake.post(path, json={"id": "e1"}, headers={"Authorization": "Bearer forged"}), 403)
    as_json = {**agent, "Content-Type": "application/json"}
    for hostile in ("{not json", DEEP_ARRAY, DEEP_OBJECT, "[1, 2]"):
        _assert_error(intake.post(path, data=hostile, headers=as_json), 400, "body")
    _assert_error(intake.post(path, data=b"\xff\xfe", headers=as_json), 400)
    _assert_error(intake.post(path, data="kind=invite", headers=agent), 415, "body")
    oversized = {"id": "e" * 100_000, "kind": "invite", "status": "x" * 100_000}
    assert _assert_error(intake.post(path, json=oversized, headers=agent), 400)["field"]
    rng = _rng(method, rule)
    for _ in range(60):
        body = {name: _junk(rng) for name in ("id", "kind", "status", "error", "phone", "received_at", "location")}
        answer = intake.post(path, json={k: v for k, v in body.items() if rng.random() < 0.8}, headers=agent)
        assert answer.status_code < 500, (SEED, body, answer.get_data(as_text=True)[:500])
        if answer.status_code >= 400:
            _assert_error(answer, answer.status_code)


def test_a_sip_agents_poll_is_never_refused_for_its_body(intake: FlaskClient) -> None:
    """The poll for replies is also the agent's heartbeat: whatever its body, it is answered."""
    agent = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"}
    path = SIP_POLL[1]
    for body in ("{not json", DEEP_ARRAY, DEEP_OBJECT, HUGE, json.dumps({"agent": ["x"] * 1000}), "null"):
        answer = intake.post(path, data=body, headers=agent)
        assert answer.status_code == 200 and answer.get_json() == [], answer.get_data(as_text=True)[:300]
    _assert_error(intake.post(path), 401, "Authorization")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"Body": "x" * 100_000}, "Body"),
        ({"From": "<script>alert(1)</script>"}, "From"),
        ({"From": "+62" + "8" * 500}, "From"),
        ({"MessageSid": "S" * 10_000}, "MessageSid"),
        ({"NumMedia": "lots"}, None),
        ({"NumMedia": "99999999999999999999"}, None),
        ({"Latitude": "1e309", "Longitude": "nan"}, None),
        ({"Body": "\x00\x00\x00"}, None),
    ],
)
def test_an_sms_webhook_with_hostile_fields_is_refused_or_taken_as_text(
    sms_client: FlaskClient,
    extra: dict[str, str],
    field: str | None,
) -> None:
    """Signed by Twilio (so past the signature) but with fields no phone sends: a 4xx naming the
    field, or taken as text; never a 500."""
    answer = sms(sms_client, "Tolong", "SMhostile1", extra=extra)
    assert answer.status_code < 500, (answer.status_code, answer.get_data(as_text=True)[:500])
    if field is not None or answer.status_code >= 400:
        _assert_error(answer, answer.status_code, field)
    assert sms_client.post(SMS[1], data={"Body": "x"}).status_code == 403  # unsigned


@pytest.mark.parametrize(("method", "rule"), OSMAND)
def test_gps_intake_refuses_bad_messages_naming_the_field(client: FlaskClient, method: str, rule: str) -> None:
    device = f.device_token(f.unit("DMK-01"))
    send = getattr(client, method.lower())
    _assert_error(send(rule + "?id=forged&lat=-1.2&lon=116.8"), 401, "id")
    for query, field in (
        (f"id={device}&lat=abc&lon=116.8", "lat"),
        (f"id={device}&lat=1e309&lon=116.8", "lat"),
        (f"id={device}&lat=-1.2&lon=nan", "lon"),
        (f"id={device}&lat=-1.2&lon=116.8&timestamp=yesterday", "timestamp"),
        (f"id={device}&lat=-1.2&lon=116.8&speed=" + "9" * 400, "speed"),
        ("id=" + "x" * 10_000 + "&lat=-1.2&lon=116.8", "id"),
    ):
        answer = send(f"{rule}?{query}")
        assert 400 <= answer.status_code < 500, (query[:200], answer.get_data(as_text=True)[:300])
        assert _assert_error(answer, answer.status_code)["field"] == field, query[:200]
    if method == "POST":
        as_json = {"Content-Type": "application/json"}
        for hostile in ("{not json", DEEP_ARRAY, DEEP_OBJECT):
            _assert_error(client.post(f"{rule}?id={device}", data=hostile, headers=as_json), 400, "body")
        _assert_error(client.post(rule, data=b"id=\xff\xfe&lat=1"), 400, "body")
        _assert_error(client.post(rule, data="&".join(f"k{n}=1" for n in range(500))), 400, "body")
    rng = _rng(method, rule)
    for _ in range(40):
        params = {k: rng.choice(QUERY_JUNK) for k in ("lat", "lon", "timestamp", "speed", "accuracy", "batt")}
        query = f"id={device}&" + "&".join(f"{k}={quote(v)}" for k, v in params.items() if rng.random() < 0.8)
        answer = send(f"{rule}?{query}")
        assert answer.status_code < 500, (SEED, query[:300], answer.get_data(as_text=True)[:300])
        if answer.status_code >= 400:
            _assert_error(answer, answer.status_code)


@pytest.mark.parametrize(("method", "rule"), FORMS)
def test_console_forms_need_their_csrf_token_and_take_junk_calmly(client: FlaskClient, method: str, rule: str) -> None:
    _assert_error(client.post(rule, data={"username": "x", "lang": "en"}), 403, "csrf_token")
    _assert_error(client.post(rule, json={"csrf_token": "forged"}), 403, "csrf_token")
    person(Role.DISPATCHER, "dewi")
    csrf = login(client, "dewi") if rule != "/login" else token_of(client)
    for junk in (
        {"username": "dewi" * 5000, "password": "x" * 100_000, "lang": "zz", "next": "https://evil.example/"},
        {"username": "\x00", "password": "", "lang": "<script>", "next": "//evil.example"},
        {"lang": "en" * 10_000, "next": "javascript:alert(1)"},
    ):
        answer = client.post(rule, data={**junk, "csrf_token": csrf})
        assert answer.status_code < 500, answer.get_data(as_text=True)[:300]
        assert "evil.example" not in answer.headers.get("Location", "") and "javascript:" not in answer.headers.get(
            "Location", ""
        )


@pytest.mark.parametrize(("method", "rule"), CREW_LINK)
def test_a_crew_link_that_is_not_one_is_404_naming_the_code(client: FlaskClient, method: str, rule: str) -> None:
    csrf = token_of(client)
    for code in ("nonexistent", "x" * 5000, quote("<script>", safe=""), "%00", quote("../../admin/audit", safe="")):
        path = rule.replace("<code>", code)
        answer = client.get(path) if method == "GET" else client.post(path, data={"csrf_token": csrf, "status": "x"})
        assert answer.status_code == 404, (code[:50], answer.status_code, answer.get_data(as_text=True)[:300])
        if answer.is_json:
            _assert_error(answer, 404)


PAGE_JUNK: dict[str, tuple[Role, list[str]]] = {
    "/login": (Role.DISPATCHER, ["next=https://evil.example/", "next=" + "a" * 10_000, "next=%00"]),
    "/crew": (Role.DISPATCHER, ["unit=abc", "unit=-1", "unit=" + "9" * 40, "unit=%00"]),
    "/manager": (
        Role.MANAGER,
        ["period=zzz", "period=range&from=2026-13-45&to=abc", "period=range&from=9999-12-31&to=0001-01-01", "from=%00"],
    ),
    "/admin/audit": (Role.ADMIN, ["before=abc", "before=-1", "before=" + "9" * 40]),
}


@pytest.mark.parametrize(("method", "rule"), PAGES_WITH_PARAMETERS)
def test_pages_take_hostile_query_parameters_calmly(client: FlaskClient, method: str, rule: str) -> None:
    """A console page with parameters no link of ours makes: the page, or a 4xx; never a 500."""
    role, queries = PAGE_JUNK[rule]
    person(role, "pengguna")
    if rule != "/login":
        login(client, "pengguna")
    for query in queries:
        answer = client.get(f"{rule}?{query}")
        assert answer.status_code < 500, (query[:100], answer.get_data(as_text=True)[:300])
        assert "evil.example" not in answer.headers.get("Location", "")


@pytest.mark.parametrize(("method", "rule"), STATIC)
def test_static_files_stay_in_their_folder(client: FlaskClient, method: str, rule: str) -> None:
    for name in ("../../app.py", "..%2f..%2fapp.py", "%00", "js/../../../cad/config.py", "x" * 5000):
        answer = client.get(rule.replace("<path:filename>", name))
        assert answer.status_code == 404, (name[:50], answer.status_code)
