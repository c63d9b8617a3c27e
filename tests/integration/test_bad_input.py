"""Bad input on every endpoint: a 4xx in the one error shape, naming the field; never a 500,
never a half-written incident."""

import json
import random
import re

import factories as f
import pytest
from flask import Flask
from flask.testing import FlaskClient

from cad.api.spec import OPERATIONS
from cad.db import db
from cad.models import Incident, Role

API_OPS = [op for op in OPERATIONS if op.rule.startswith("/api/v1/") and op.endpoint != "api.events"]


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


@pytest.mark.parametrize("op", [o for o in API_OPS if set(Role) - o.roles], ids=lambda o: f"{o.method} {o.rule}")
def test_wrong_role_is_403(client: FlaskClient, op) -> None:
    role = sorted(set(Role) - op.roles)[0]
    _, headers = f.user(role)
    error = _assert_error(getattr(client, op.method)(_path(op.rule), json={}, headers=headers), 403)
    assert str(role) in error["message"]


@pytest.mark.parametrize("op", [o for o in API_OPS if o.body is not None], ids=lambda o: f"{o.method} {o.rule}")
def test_malformed_bodies(client: FlaskClient, op) -> None:
    _, headers = f.user(Role.ADMIN)
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


@pytest.mark.parametrize("op", [o for o in API_OPS if o.body is not None], ids=lambda o: f"{o.method} {o.rule}")
def test_random_junk_never_gives_a_500(app: Flask, client: FlaskClient, op) -> None:
    _, headers = f.user(Role.ADMIN)
    unit = f.unit("DMK-01")
    incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
    call = client.post("/api/v1/calls", json={"phone": "0812000111"}, headers=headers).get_json()
    ids = {"incident_id": incident["id"], "unit_id": unit.id, "call_id": call["id"]}
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), op.rule)
    fields = list(op.body.model_fields)
    rng = random.Random(hash(op.rule) & 0xFFFF)
    for _ in range(60):
        body = {name: _junk(rng) for name in fields if rng.random() < 0.8}
        response = getattr(client, op.method)(
            path, data=json.dumps(body), headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code < 500, (body, response.get_data(as_text=True))
        if response.status_code >= 400:
            _assert_error(response, response.status_code)


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
