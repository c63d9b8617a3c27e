"""The device endpoints answered in front of Flask (cad/api/gps_wsgi.py, issue 20): really that
path, and the same answers as Flask's request handling gives for the same requests (status,
JSON error shape, security headers, 503 on a database failure, 405/OPTIONS left to Flask)."""

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import factories as f
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client, TestResponse

from cad import clock
from cad.api import gps as gps_views
from cad.api.gps_wsgi import DeviceEndpoints
from cad.db import db
from cad.models import Position

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
#: Headers that may differ: the lean path compresses nothing and reads no session cookie.
NOT_COMPARED = {"Vary"}
#: The Flask-only client below does not commit the test's session before a request as the app's
#: test client does, and the token look-up reads through a connection of its own.
pytestmark = pytest.mark.usefixtures("committing_factories")


@pytest.fixture(autouse=True)
def fixed_clock() -> None:
    clock.set_clock(lambda: T0)


def endpoints(app: Flask) -> DeviceEndpoints:
    outer: Any = app.wsgi_app
    found = outer.app if isinstance(outer, ProxyFix) else outer
    assert isinstance(found, DeviceEndpoints)
    return found


def flask_only(app: Flask) -> Client:
    """A client of the same app without the lean path: Flask's request handling for every request."""
    return Client(endpoints(app).wsgi_app, TestResponse)


def ms(at: datetime) -> int:
    return round(at.timestamp() * 1000)


def fix_query(token: str, at: datetime, lat: float = -1.2650) -> str:
    return f"id={token}&lat={lat}&lon=116.84&timestamp={ms(at)}&speed=12&accuracy=8&batt=77"


def same_answer(lean: TestResponse, flask: TestResponse, what: str) -> None:
    assert lean.status_code == flask.status_code, (what, lean.get_data()[:300], flask.get_data()[:300])
    assert lean.get_data() == flask.get_data(), what
    heard = {k: v for k, v in lean.headers.items() if k not in NOT_COMPARED}
    expected = {k: v for k, v in flask.headers.items() if k not in NOT_COMPARED}
    assert heard == expected, what


def test_device_requests_skip_flasks_request_handling(app: Flask, client: FlaskClient) -> None:
    seen: list[str] = []
    app.before_request(lambda: seen.append("flask"))
    unit = f.unit("DMK-01", fix_age_s=None)
    token = f.device_token(unit)
    assert client.get(f"/gps/osmand?{fix_query(token, T0 - timedelta(seconds=30))}").status_code == 200
    assert client.post("/gps/osmand", data=fix_query(token, T0 - timedelta(seconds=25))).status_code == 200
    traccar = {
        "device_id": token,
        "location": {
            "timestamp": (T0 - timedelta(seconds=20)).isoformat().replace("+00:00", "Z"),
            "coords": {"latitude": -1.26, "longitude": 116.84},
        },
    }
    assert client.post("/gps/osmand", json=traccar).status_code == 200
    positions = [{"lat": -1.26, "lon": 116.84, "at": (T0 - timedelta(seconds=10)).isoformat()}]
    answer = client.post(
        "/api/v1/positions", json={"positions": positions}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200 and answer.get_json()["accepted"] == 1
    assert client.head(f"/gps/osmand?{fix_query(token, T0 - timedelta(seconds=5))}").status_code == 200
    assert client.get("/gps/osmand?id=forged&lat=1&lon=1").status_code == 401
    assert seen == []  # none of them went through Flask's request handling
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Position)) == 5  # HEAD stores, as GET
    assert client.options("/gps/osmand").headers["Allow"]
    assert client.get("/api/v1/positions").status_code == 405
    assert client.get("/api/v1/health").status_code == 200
    assert seen == ["flask"] * 3  # OPTIONS, 405 and every other path: Flask's


def test_the_lean_path_answers_as_flask_does(app: Flask, client: FlaskClient) -> None:
    app.config["WARROOM"] = replace(app.config["WARROOM"], gps_batch_max=3)
    unit = f.unit("DMK-01", fix_age_s=None)
    token = f.device_token(unit)
    bearer = {"Authorization": f"Bearer {token}"}
    as_json = {"Content-Type": "application/json"}
    deep = "[" * 10_000 + "]" * 10_000
    old = T0 - timedelta(minutes=5)
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/gps/osmand", {}),
        ("GET", "/gps/osmand?id=forged&lat=-1.2&lon=116.8", {}),
        ("HEAD", "/gps/osmand?id=forged&lat=-1.2&lon=116.8", {}),
        ("GET", f"/gps/osmand?id={token}&lat=abc&lon=116.8", {}),
        ("GET", f"/gps/osmand?id={token}&lat=-1.2&lon=116.8&timestamp=yesterday", {}),
        ("GET", "/gps/osmand?id=" + "x" * 10_000 + "&lat=-1.2&lon=116.8", {}),
        ("GET", f"/gps/osmand?id={token}&id=other&lat=-1.2&lat=5&lon=116.8&timestamp={ms(old)}", {}),
        ("GET", f"/gps/osmand?{fix_query(token, old)}", {}),  # then a duplicate for the second path
        ("HEAD", f"/gps/osmand?{fix_query(token, old + timedelta(seconds=1))}", {}),
        ("POST", "/gps/osmand", {"data": fix_query(token, old + timedelta(seconds=2))}),
        ("POST", "/gps/osmand", {"data": "{not json", "headers": as_json}),
        ("POST", f"/gps/osmand?id={token}", {"data": deep, "headers": as_json}),
        ("POST", "/gps/osmand", {"data": json.dumps({"device_id": token, "location": "here"}), "headers": as_json}),
        ("POST", "/gps/osmand", {"data": b"id=\xff\xfe&lat=1"}),
        ("POST", "/gps/osmand", {"data": "&".join(f"k{n}=1" for n in range(500))}),
        ("POST", "/gps/osmand", {"data": {"id": token, "lat": "1" * 600_000, "lon": "116.8"}}),
        ("POST", "/gps/osmand", {"data": b"\x00" * 2_000_000, "headers": {"Content-Type": "text/plain"}}),
        ("POST", "/api/v1/positions", {"json": {"positions": []}}),
        ("POST", "/api/v1/positions", {"json": {"positions": []}, "headers": {"Authorization": "Basic eDp5"}}),
        ("POST", "/api/v1/positions", {"data": "positions=1", "headers": bearer}),
        ("POST", "/api/v1/positions", {"data": deep, "headers": {**bearer, **as_json}}),
        ("POST", "/api/v1/positions", {"json": {"positions": [1, 2, 3, 4]}, "headers": bearer}),
        ("POST", "/api/v1/positions", {"json": {"positions": [1, {"lat": 99}]}, "headers": bearer}),
        ("PUT", "/gps/osmand", {}),
        ("DELETE", "/api/v1/positions", {}),
        ("GET", "/api/v1/positions", {}),
        ("OPTIONS", "/gps/osmand", {}),
        ("GET", "/gps/osmand/", {}),
    ]
    both = flask_only(app)
    for method, path, extra in requests:
        what = f"{method} {path[:80]}"
        flask = both.open(path, method=method, **extra)
        lean = client.open(path, method=method, **extra)
        same_answer(lean, flask, what)
        if lean.status_code >= 400 and method != "HEAD" and lean.status_code != 404:
            body = lean.get_json()
            assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, what
    # a batch: the same shape; the second sending of the same fix is a duplicate on either path
    positions = {"positions": [{"lat": -1.26, "lon": 116.84, "at": old.isoformat()}, {"lat": "x"}]}
    flask = both.open("/api/v1/positions", method="POST", json=positions, headers=bearer)
    lean = client.post("/api/v1/positions", json=positions, headers=bearer)
    assert lean.status_code == flask.status_code == 200
    assert lean.headers["Content-Type"] == flask.headers["Content-Type"] == "application/json"
    assert lean.headers["X-Content-Type-Options"] == "nosniff"
    assert {**lean.get_json(), "duplicates": 0, "out_of_order": 0} == {
        **flask.get_json(),
        "duplicates": 0,
        "out_of_order": 0,
    }
    assert lean.get_json()["duplicates"] == 1
    # the empty 200's headers follow the settings (the pages' policy names the map's tile server)
    app.config["WARROOM"] = replace(app.config["WARROOM"], map_tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    query = fix_query(token, old + timedelta(seconds=30))
    flask, lean = both.get(f"/gps/osmand?{query}"), client.get(f"/gps/osmand?{query}")
    same_answer(lean, flask, "200 with other settings")
    assert "tiles.example.org" in lean.headers["Content-Security-Policy"]


def test_a_flooding_device_gets_the_same_429(app: Flask, client: FlaskClient) -> None:
    app.config["WARROOM"] = replace(app.config["WARROOM"], gps_rate=0.5, gps_burst=2)
    flood, other = (f.device_token(f.unit(callsign)) for callsign in ("DMK-01", "DMK-02"))
    at = T0 - timedelta(minutes=1)
    answers = [client.get(f"/gps/osmand?{fix_query(flood, at + timedelta(seconds=n))}") for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    flask = flask_only(app).get(f"/gps/osmand?{fix_query(flood, at + timedelta(seconds=9))}")
    same_answer(answers[2], flask, "429")
    assert answers[2].headers["Retry-After"] == "4"
    assert answers[2].get_json()["error"]["code"] == "rate_limited"
    assert client.get(f"/gps/osmand?{fix_query(other, at)}").status_code == 200


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (OperationalError("INSERT", {}, Exception("connection refused")), 503, "database_unavailable"),
        (PoolTimeout("QueuePool limit of size 5 overflow 10 reached"), 503, "database_busy"),
        (RuntimeError("a bug"), 500, "internal_error"),
    ],
    ids=["database down", "no free connection", "a bug"],
)
def test_a_failure_is_the_same_json_answer(
    app: Flask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Exception,
    status: int,
    code: str,
) -> None:
    token = f.device_token(f.unit("DMK-01"))

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise failure

    monkeypatch.setattr(gps_views, "record_fixes", fails)
    query = fix_query(token, T0 - timedelta(seconds=10))
    positions = {"positions": [{"lat": -1.26, "lon": 116.84, "at": T0.isoformat()}]}
    with caplog.at_level(logging.ERROR):
        lean = client.get(f"/gps/osmand?{query}")
        lean_batch = client.post("/api/v1/positions", json=positions, headers={"Authorization": f"Bearer {token}"})
    assert lean.status_code == lean_batch.status_code == status
    assert lean.get_json()["error"]["code"] == lean_batch.get_json()["error"]["code"] == code
    assert (lean.headers.get("Retry-After") == "2") is (status == 503)
    assert "/gps/osmand" in caplog.text and "/api/v1/positions" in caplog.text  # logged with the path, as before
    same_answer(lean, flask_only(app).get(f"/gps/osmand?{query}"), code)


def test_a_worker_of_its_own_pushes_and_pops_its_context(other_worker: Callable[..., Flask], app: Flask) -> None:
    """Outside a test's app context (as under gunicorn): each request has its session, removed after it."""
    token = f.device_token(f.unit("DMK-01", fix_age_s=None))
    db.session.commit()
    worker = other_worker(WARROOM_PROXIES="1")
    assert isinstance(
        worker.wsgi_app, ProxyFix
    )  # the lean path sits inside it: the client's address is the proxy's word
    devices = worker.test_client()
    for n in range(3):
        answer = devices.get(
            f"/gps/osmand?{fix_query(token, T0 - timedelta(seconds=30 - n))}", headers={"X-Forwarded-For": "10.1.2.3"}
        )
        assert answer.status_code == 200
        assert devices.get("/gps/osmand?id=forged&lat=1&lon=1").status_code == 401
    with worker.app_context():
        assert db.engine.pool.checkedout() == 0  # nothing held between requests
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Position)) == 3
