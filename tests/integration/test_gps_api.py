"""Vehicle GPS over HTTP: OsmAnd / Traccar Client, the JSON batch, flood limit, geofence status."""

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY
from urllib.parse import quote, unquote_plus

import factories as f
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from cad import clock
from cad.db import db
from cad.models import DeviceReport, Position, Role, Unit
from cad.services.positions import FloodGuard
from dispatch.positions import KNOT_MPS

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
SCENE = (f.INCIDENT["location"]["lat"], f.INCIDENT["location"]["lon"])  # type: ignore[index]
NEAR_SCENE = (SCENE[0] + 0.0003, SCENE[1])  # ~33 m
AWAY = (SCENE[0] - 0.01, SCENE[1])  # ~1.1 km


class Clock:
    """The centre's clock, moved by the test."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at
        clock.set_clock(lambda: self.at)

    def tick(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


@pytest.fixture
def now() -> Clock:
    return Clock()


def iso(at: datetime) -> str:
    """How the API writes a UTC time."""
    return at.isoformat().replace("+00:00", "Z")


def unit_row(unit_id: int) -> Unit:
    db.session.expire_all()
    return db.session.get(Unit, unit_id)


def stored(unit_id: int) -> list[Position]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Position).where(Position.unit_id == unit_id).order_by(Position.fix_at)))


def osmand(client: FlaskClient, token: str, at: datetime, where: tuple[float, float], **extra: Any) -> Any:
    query = {"id": token, "lat": where[0], "lon": where[1], "timestamp": round(at.timestamp() * 1000), **extra}
    return client.get("/gps/osmand", query_string=query)


def batch(client: FlaskClient, token: str, positions: list[Any]) -> Any:
    return client.post("/api/v1/positions", json={"positions": positions}, headers={"Authorization": f"Bearer {token}"})


def settings(app: Flask, **over: Any) -> None:
    app.config["WARROOM"] = replace(app.config["WARROOM"], **over)


# --- OsmAnd / Traccar Client ----------------------------------------------------------------


def test_osmand_query_moves_the_unit_and_keeps_the_fix(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01", fix_age_s=None, lat=None, lon=None)
    token = f.device_token(unit)
    at = now.at - timedelta(seconds=5)
    query = {"lat": "-1.2601", "lon": "116.8302", "speed": "20", "bearing": "45.5", "accuracy": "7", "batt": "64"}
    response = client.get("/gps/osmand", query_string={"id": token, "timestamp": str(int(at.timestamp())), **query})
    assert response.status_code == 200 and response.data == b""
    row = unit_row(unit.id)
    assert (row.lat, row.lon, row.position_at, row.position_accuracy_m) == (-1.2601, 116.8302, at, 7.0)
    [fix] = stored(unit.id)
    assert fix.speed_mps == pytest.approx(20 * KNOT_MPS)
    assert (fix.bearing_deg, fix.battery_pct, fix.source, fix.received_at) == (45.5, 64.0, "gps", now.at)


def test_osmand_form_post_with_deviceid(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    token = f.device_token(unit)
    form = {"deviceid": token, "lat": "-1.25", "lon": "116.9", "timestamp": now.at.isoformat()}
    response = client.post("/gps/osmand", data=form)
    assert response.status_code == 200, response.get_json()
    assert (unit_row(unit.id).lat, unit_row(unit.id).position_at) == (-1.25, now.at)


def test_osmand_without_timestamp_is_stamped_on_receipt(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    response = client.get("/gps/osmand", query_string={"id": f.device_token(unit), "lat": "-1.25", "lon": "116.9"})
    assert response.status_code == 200
    assert unit_row(unit.id).position_at == now.at


@pytest.mark.parametrize(
    "stamp",
    [
        lambda at: str(int(at.timestamp())),
        lambda at: str(int(at.timestamp() * 1000)),
        lambda at: at.isoformat(),
        lambda at: at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        lambda at: at.astimezone().isoformat(),
    ],
    ids=["seconds", "milliseconds", "iso-offset", "iso-z", "iso-local"],
)
def test_osmand_timestamps_in_seconds_milliseconds_and_iso(client: FlaskClient, now: Clock, stamp: Any) -> None:
    unit = f.unit("DMK-01", fix_age_s=None)
    at = now.at - timedelta(seconds=30)
    query = {"id": f.device_token(unit), "lat": "-1.25", "lon": "116.9", "timestamp": stamp(at)}
    assert client.get("/gps/osmand", query_string=query).status_code == 200
    assert unit_row(unit.id).position_at == at


def test_traccar_client_9_json(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    token = f.device_token(unit)
    body = {
        "device_id": token,
        "location": {
            "timestamp": (now.at - timedelta(seconds=2)).isoformat().replace("+00:00", "Z"),
            "coords": {"latitude": -1.26, "longitude": 116.84, "accuracy": 4.5, "speed": 11.0, "heading": 180},
            "battery": {"level": 0.8, "is_charging": False},
            "is_moving": True,
            "event": "motionchange",
        },
    }
    response = client.post("/gps/osmand", json=body)
    assert response.status_code == 200 and response.data == b""
    [fix] = stored(unit.id)
    assert (fix.lat, fix.lon, fix.accuracy_m, fix.speed_mps, fix.bearing_deg) == (-1.26, 116.84, 4.5, 11.0, 180.0)
    assert fix.battery_pct == pytest.approx(80.0)
    assert fix.fix_at == now.at - timedelta(seconds=2)


def test_traccar_client_9_json_garbage_names_the_field(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    token = f.device_token(unit)
    location = {"timestamp": now.at.isoformat(), "coords": {"latitude": 95, "longitude": 116.84}}
    response = client.post("/gps/osmand", json={"device_id": token, "location": location})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "location.coords.latitude"
    response = client.post("/gps/osmand", json={"device_id": token, "location": {"coords": "here"}})
    assert response.get_json()["error"]["field"] == "location.coords"
    assert stored(unit.id) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": "91"}, "lat"),
        ({"lat": "abc"}, "lat"),
        ({"lon": "nan"}, "lon"),
        ({"lon": ""}, "lon"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "99999999999999999999"}, "timestamp"),
        ({"speed": "-3"}, "speed"),
        ({"accuracy": "inf"}, "accuracy"),
        ({"bearing": "720"}, "bearing"),
        ({"batt": "150"}, "batt"),
        ({"altitude": "1e9"}, "altitude"),
    ],
)
def test_osmand_garbage_is_a_4xx_naming_the_field_and_stores_nothing(
    client: FlaskClient, now: Clock, query: dict[str, str], field: str
) -> None:
    unit = f.unit("DMK-01")
    before = unit_row(unit.id).position_at
    base = {"id": f.device_token(unit), "lat": "-1.25", "lon": "116.9"}
    response = client.get("/gps/osmand", query_string={**base, **query})
    assert response.status_code == 400, response.data
    assert response.get_json()["error"]["field"] == field
    assert stored(unit.id) == [] and unit_row(unit.id).position_at == before


def test_osmand_invalid_json_body_is_a_400(client: FlaskClient, now: Clock) -> None:
    token = f.device_token(f.unit("DMK-01"))
    response = client.post(f"/gps/osmand?id={token}", data=b"{not json", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "body"


def test_unknown_or_missing_device_token_is_401(client: FlaskClient, now: Clock) -> None:
    f.device_token(f.unit("DMK-01"))
    response = client.get("/gps/osmand", query_string={"id": "dev_nobody", "lat": "-1.25", "lon": "116.9"})
    assert response.status_code == 401 and response.get_json()["error"]["field"] == "id"
    assert client.get("/gps/osmand", query_string={"lat": "-1.25", "lon": "116.9"}).status_code == 401
    assert batch(client, "dev_nobody", [{"lat": 1, "lon": 1, "at": now.at.isoformat()}]).status_code == 401
    response = client.post("/api/v1/positions", json={"positions": []})
    assert response.status_code == 401 and response.get_json()["error"]["field"] == "Authorization"


def test_a_replaced_device_token_stops_working(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    old = f.device_token(unit)
    assert osmand(client, old, now.at, AWAY).status_code == 200
    new = f.device_token(unit)
    settings_ttl = client.application.config["WARROOM"].gps_token_ttl_s
    assert settings_ttl > 0  # the old token is remembered for at most this long
    client.application.extensions["warroom.gps"].devices.forget(old)
    assert osmand(client, old, now.tick(1), AWAY).status_code == 401
    assert osmand(client, new, now.tick(1), AWAY).status_code == 200


# --- the JSON batch ------------------------------------------------------------------------


def test_batch_counts_accepted_duplicates_out_of_order_and_rejected(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01", fix_age_s=None, lat=None, lon=None)
    token = f.device_token(unit)
    at = [now.at - timedelta(seconds=60 - 10 * i) for i in range(6)]
    first = [
        {"lat": -1.26, "lon": 116.84, "at": at[1].isoformat(), "accuracy_m": 5, "speed_mps": 8, "bearing_deg": 90},
        {"lat": -1.261, "lon": 116.841, "at": at[3].isoformat(), "accuracy_m": 6, "battery_pct": 70},
    ]
    response = batch(client, token, first)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["accepted"], body["duplicates"], body["out_of_order"], body["rejected"]) == (2, 0, 0, [])
    assert body["position"] == {"lat": -1.261, "lon": 116.841, "at": iso(at[3]), "accuracy_m": 6.0}

    second = [
        first[1],  # already stored
        {"lat": -1.262, "lon": 116.842, "at": at[0].isoformat()},  # late: history
        {"lat": -1.263, "lon": 116.843, "at": at[5].isoformat()},  # the newest
        {"lat": -1.263, "lon": 116.843, "at": at[5].isoformat()},  # repeated in the same request
        {"lat": 123, "lon": 116.843, "at": at[4].isoformat()},
        {"lat": -1.26, "lon": 116.84, "at": (now.at + timedelta(minutes=5)).isoformat()},
        "not a position",
        {"lat": -1.26, "lon": 116.84, "at": at[2].isoformat(), "speed_mps": float("nan")},
    ]
    body = batch(client, token, second).get_json()
    assert (body["received"], body["accepted"], body["duplicates"], body["out_of_order"]) == (8, 1, 2, 1)
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (4, "positions[4].lat"),
        (5, "positions[5].at"),
        (6, "positions[6]"),
        (7, "positions[7].speed_mps"),
    ]
    assert "future" in body["rejected"][1]["reason"]
    assert body["position"]["at"] == iso(at[5]) and body["status"] == "available"
    assert [p.fix_at for p in stored(unit.id)] == [at[0], at[1], at[3], at[5]]
    assert unit_row(unit.id).position_at == at[5]


def test_a_late_batch_is_history_and_never_moves_the_unit_backwards(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    token = f.device_token(unit)
    assert osmand(client, token, now.at, (-1.2, 116.8), accuracy="3").status_code == 200
    late = [{"lat": -1.3, "lon": 116.9, "at": (now.at - timedelta(minutes=m)).isoformat()} for m in (3, 2, 1)]
    body = batch(client, token, late).get_json()
    assert (body["accepted"], body["out_of_order"]) == (0, 3)
    assert body["position"] == {"lat": -1.2, "lon": 116.8, "at": iso(now.at), "accuracy_m": 3.0}
    row = unit_row(unit.id)
    assert (row.lat, row.lon, row.position_at) == (-1.2, 116.8, now.at)
    assert len(stored(unit.id)) == 4


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ([], 400, "body"),
        ({"positions": "many"}, 400, "positions"),
        ({"positions": []}, 400, "positions"),
        ({"positions": [{"lat": "x", "lon": 1, "at": "2026-11-24T03:00:00Z"}]}, 400, "positions[0].lat"),
        ({"positions": [{"lat": 1, "lon": 1}]}, 400, "positions[0].at"),
        ({"positions": [{"lat": 1, "lon": 1, "at": "2026-11-24T03:00:00Z"}] * 1001}, 413, "positions"),
    ],
)
def test_batch_garbage_is_a_4xx_naming_the_field(
    client: FlaskClient, now: Clock, body: Any, status: int, field: str
) -> None:
    unit = f.unit("DMK-01")
    response = client.post("/api/v1/positions", json=body, headers={"Authorization": f"Bearer {f.device_token(unit)}"})
    assert response.status_code == status
    assert response.get_json()["error"]["field"] == field
    assert stored(unit.id) == []


def test_batch_must_be_json(client: FlaskClient, now: Clock) -> None:
    headers = {"Authorization": f"Bearer {f.device_token(f.unit('DMK-01'))}"}
    response = client.post("/api/v1/positions", data="lat=1", headers=headers)
    assert response.status_code == 415
    bad = client.post("/api/v1/positions", data=b"\xff{", headers=headers, content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "body"


# --- flood limit ---------------------------------------------------------------------------


def test_a_flooding_device_gets_429_while_another_is_served(app: Flask, client: FlaskClient, now: Clock) -> None:
    settings(app, gps_rate=0.5, gps_burst=3)
    flooding, other = f.unit("DMK-01"), f.unit("DMK-02")
    flood_token, other_token = f.device_token(flooding), f.device_token(other)
    answers = [osmand(client, flood_token, now.tick(0.01), AWAY).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]
    refused = osmand(client, flood_token, now.tick(0.01), AWAY)
    assert refused.get_json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) == 6  # 3 fixes per 3 / 0.5 s: when the window ends
    assert osmand(client, other_token, now.tick(0.01), AWAY).status_code == 200
    positions = [{"lat": AWAY[0], "lon": AWAY[1], "at": now.tick(0.01).isoformat()}]
    assert batch(client, flood_token, positions).status_code == 429
    assert batch(client, other_token, positions).status_code == 200
    assert len(stored(flooding.id)) == 3
    now.tick(6)
    assert osmand(client, flood_token, now.tick(0.01), AWAY).status_code == 200


def test_the_flood_limit_is_counted_once_for_two_workers(
    app: Flask, client: FlaskClient, other_worker: Callable[..., Flask], now: Clock
) -> None:
    first, second = app, other_worker()
    for worker in (first, second):
        settings(worker, gps_rate=0.01, gps_burst=4)  # 4 fixes per 400 s
    unit = f.unit("DMK-01")
    token = f.device_token(unit)
    one, two = client, second.test_client()
    assert [osmand(one, token, now.tick(0.01), AWAY).status_code for _ in range(4)] == [200] * 4
    now.tick(FloodGuard.FLUSH_S)  # the first worker adds its count to the centre's on its next request
    for worker in (one, two, one, two):
        refused = osmand(worker, token, now.tick(0.01), AWAY)
        assert refused.status_code == 429, refused.get_data(as_text=True)
        assert (
            refused.get_json() == {"error": {"code": "rate_limited", "message": ANY, "field": None}}
            and int(refused.headers["Retry-After"]) > 390
        )
    positions = [{"lat": AWAY[0], "lon": AWAY[1], "at": now.tick(0.01).isoformat()}]
    assert batch(two, token, positions).status_code == 429
    assert len(stored(unit.id)) == 4
    now.tick(400)
    assert osmand(two, token, now.tick(0.01), AWAY).status_code == 200
    assert osmand(one, token, now.tick(0.01), AWAY).status_code == 200


# --- geofence ------------------------------------------------------------------------------


def en_route_unit(client: FlaskClient, now: Clock, **unit_over: Any) -> tuple[Unit, str, dict, dict]:
    """A unit assigned to the standard incident and driving there; its token and crew headers."""
    _, dispatcher = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01", lat=AWAY[0], lon=AWAY[1], **unit_over)
    _, crew = f.user(Role.CREW, unit=unit)
    incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=dispatcher).get_json()
    assigned = client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=dispatcher
    )
    assert assigned.status_code == 201
    now.tick(5)
    assert client.post(f"/api/v1/units/{unit.id}/status", json={"status": "en_route"}, headers=crew).status_code == 200
    return unit, f.device_token(unit), incident, crew


def drive_in(client: FlaskClient, token: str, now: Clock, seconds: int, every_s: int = 5) -> datetime:
    """Fixes outside, then inside the scene's fence for `seconds`; returns the first fix inside."""
    for _ in range(3):
        assert osmand(client, token, now.tick(every_s), AWAY).status_code == 200
    arrived = now.tick(every_s)
    assert osmand(client, token, arrived, NEAR_SCENE).status_code == 200
    for _ in range(seconds // every_s):
        assert osmand(client, token, now.tick(every_s), NEAR_SCENE).status_code == 200
    return arrived


def timeline(client: FlaskClient, incident_id: int) -> list[dict]:
    _, headers = f.user(Role.DISPATCHER)
    return client.get(f"/api/v1/incidents/{incident_id}", headers=headers).get_json()["timeline"]


def test_a_unit_that_stays_at_the_scene_is_on_scene_from_when_it_arrived(client: FlaskClient, now: Clock) -> None:
    unit, token, incident, _ = en_route_unit(client, now)
    arrived = drive_in(client, token, now, seconds=15)
    assert unit_row(unit.id).status == "en_route"  # 15 s of the 20 s dwell
    assert osmand(client, token, now.tick(5), NEAR_SCENE).status_code == 200
    row = unit_row(unit.id)
    assert row.status == "on_scene" and row.status_changed_at == arrived
    on_scene = [e for e in timeline(client, incident["id"]) if e["kind"] == "unit_on_scene"]
    assert len(on_scene) == 1
    assert on_scene[0]["at"] == iso(arrived)
    assert (on_scene[0]["source"], on_scene[0]["actor"]) == ("gps", "gps")
    assert on_scene[0]["recorded_at"] == iso(now.at)
    assert any(e["kind"] == "incident_on_scene" for e in timeline(client, incident["id"]))


def test_passing_by_the_scene_is_not_arriving(client: FlaskClient, now: Clock) -> None:
    unit, token, _, _ = en_route_unit(client, now)
    drive_in(client, token, now, seconds=10)
    assert osmand(client, token, now.tick(5), AWAY).status_code == 200
    assert osmand(client, token, now.tick(30), AWAY).status_code == 200
    assert unit_row(unit.id).status == "en_route"


def test_the_gps_never_overrides_a_crew_that_already_reported_on_scene(client: FlaskClient, now: Clock) -> None:
    unit, token, incident, crew = en_route_unit(client, now)
    for _ in range(3):
        osmand(client, token, now.tick(5), AWAY)
    reported = now.tick(5)
    assert client.post(f"/api/v1/units/{unit.id}/status", json={"status": "on_scene"}, headers=crew).status_code == 200
    drive_in(client, token, now, seconds=40)
    row = unit_row(unit.id)
    assert row.status == "on_scene" and row.status_changed_at == reported
    on_scene = [e for e in timeline(client, incident["id"]) if e["kind"] == "unit_on_scene"]
    assert [(e["actor"], e["at"]) for e in on_scene] == [(on_scene[0]["actor"], iso(reported))]
    assert on_scene[0]["actor"].startswith("user:")


@pytest.mark.parametrize("allowed", [False, True])
def test_back_at_the_station_is_available_only_when_the_centre_allows_it(
    app: Flask, client: FlaskClient, now: Clock, allowed: bool
) -> None:
    settings(app, gps_auto_available=allowed)
    home = f.station("Pos Pusat", lat=-1.2800, lon=116.8300)
    unit, token, incident, _ = en_route_unit(client, now, home=home)
    drive_in(client, token, now, seconds=25)
    assert unit_row(unit.id).status == "on_scene"
    osmand(client, token, now.tick(60), AWAY)
    back = now.tick(60)
    osmand(client, token, back, (home.lat, home.lon))
    for _ in range(5):
        assert osmand(client, token, now.tick(5), (home.lat + 0.0002, home.lon)).status_code == 200
    row = unit_row(unit.id)
    if not allowed:
        assert row.status == "on_scene"
        return
    assert row.status == "available" and row.status_changed_at == back
    cleared = [e for e in timeline(client, incident["id"]) if e["kind"] == "unit_cleared"]
    assert [(e["source"], e["at"]) for e in cleared] == [("gps", iso(back))]


# --- every request of Traccar's own OsmAnd decoder test -------------------------------------

# The requests of traccar/traccar src/test/java/org/traccar/protocol/OsmAndProtocolDecoderTest.java
# (testDecodeJson and testDecodeQuery, as of commit 24157c0a), copied verbatim. The replay moves
# each time to the centre's now (same form: seconds, milliseconds, ISO, "yyyy-MM-dd HH:mm:ss") and
# puts a unit's device token where the device identifier was.
TRACCAR_JSON_REQUESTS = [
    '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{},"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}',
    '{"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{"device_string_test":"long_device_id","device_bool_test":true,"device_bool_false_test":false,"device_integer_test":1,"device_double_test":1.345,"device_very_long_double_test":1763636.3442},"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"}',
    '{"location":{"extras":{},"mock":true,"coords":{"speed_accuracy":-1,"speed":-1,"longitude":-122.406417,"ellipsoidal_altitude":0,"floor":null,"heading_accuracy":-1,"latitude":37.785834000000001,"accuracy":5,"altitude_accuracy":-1,"altitude":0,"heading":-1},"is_moving":false,"age":188,"odometer":0,"uuid":"2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8","event":"motionchange","battery":{"level":-1,"is_charging":false},"activity":{"type":"unknown","confidence":100},"timestamp":"2025-05-09T04:11:30.579Z"},"device_id":"658765"}',
    '{"location":{"event":"motionchange","is_moving":false,"uuid":"0e9a2473-a9a7-4c00-997b-fb97d2154e75","timestamp":"2021-07-21T08:06:34.444Z","odometer":0,"coords":{"latitude":-6.1148096,"longitude":106.6837015,"accuracy":3.8,"speed":18.67,"speed_accuracy":0.26,"heading":63,"heading_accuracy":0.28,"altitude":35.7,"altitude_accuracy":3.8},"activity":{"type":"still","confidence":100},"battery":{"is_charging":false,"level":0.79},"extras":{}},"device_id":"8737767034"}',
]
TRACCAR_QUERY_REQUESTS = [
    "/?id=123456&timestamp=1377177267&cell=257,02,16,2224&cell=257,02,16,2223,-90&wifi=00-14-22-01-23-45,-80&wifi=00-1C-B3-09-85-15,-70",
    "/?timestamp=1377177267&lat=60.0&lon=30.0",
    "/?id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&altitude=224.0&speed=0.0",
    "/?id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0&altitude=224.0&speed=0.0",
    "/?lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&speed=0.0&id=353861053849681",
    "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&altitude=0&hdop=0.0",
    "/?id=123456&timestamp=1377177267&lat=60.0&lon=30.0",
    "/?lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456",
    "/?id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&speed=0.000000&batt=87",
    "/?id=123456&timestamp=1377177267&location=60.0,30.0",
    "/?id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24",
]
#: What the centre must have recorded for each: the fix's values, REPORT (kept, the unit stays), or
#: REFUSED (Traccar's verifyNull: no device identifier).
REPORT, REFUSED = "report", "refused"
TRACCAR_EXPECTED: list[Any] = [
    {
        "lat": 37.4219983,
        "lon": -122.084,
        "accuracy_m": 5.0,
        "speed_mps": 0.0,
        "bearing_deg": None,
        "battery_pct": 100.0,
    },
    {
        "lat": 37.4219983,
        "lon": -122.084,
        "accuracy_m": 5.0,
        "speed_mps": 0.0,
        "bearing_deg": None,
        "battery_pct": 100.0,
    },
    {
        "lat": 37.785834,
        "lon": -122.406417,
        "accuracy_m": 5.0,
        "speed_mps": None,
        "bearing_deg": None,
        "battery_pct": None,
    },
    {"lat": -6.1148096, "lon": 106.6837015, "speed_mps": 18.67, "bearing_deg": 63.0, "battery_pct": 79.0},
    REPORT,
    REFUSED,
    {"lat": 42.06288, "lon": -88.23412, "speed_mps": 0.0},
    {"lat": 42.06288, "lon": -88.23412, "speed_mps": 0.0},
    {"lat": 49.60688, "lon": 6.15788, "speed_mps": 0.0},
    {"lat": 60.0, "lon": 30.0, "speed_mps": 0.0, "bearing_deg": 0.0},
    {"lat": 60.0, "lon": 30.0},
    {"lat": 60.0, "lon": 30.0, "speed_mps": 0.0, "bearing_deg": 0.0},
    {"lat": 41.666667, "lon": -0.883333, "speed_mps": 0.0, "battery_pct": 87.0},
    {"lat": 60.0, "lon": 30.0},
    {
        "lat": 40.7232948571,
        "lon": -74.0061408571,
        "speed_mps": pytest.approx(40 * KNOT_MPS),
        "bearing_deg": 7.19889788244,
    },
]
TRACCAR_REQUESTS = [("json", body) for body in TRACCAR_JSON_REQUESTS] + [
    ("query", query) for query in TRACCAR_QUERY_REQUESTS
]


def moved_to_now(kind: str, request: str, at: datetime, token: str) -> str:
    """A request of Traccar's test with its time moved to `at` (in the form it had) and `token` as device."""
    if kind == "json":
        request = re.sub(r'"device_id":"[^"]*"', f'"device_id":"{token}"', request)
        return re.sub(r'"timestamp":"[^"]*"', f'"timestamp":"{iso(at.replace(microsecond=0))[:-1]}.000Z"', request)

    def stamp(match: re.Match[str]) -> str:
        old = unquote_plus(match[1])
        if old.isdigit():
            return "timestamp=" + str(int(at.timestamp()) * (1000 if len(old) > 10 else 1))
        if "T" in old:
            return "timestamp=" + quote(at.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return "timestamp=" + at.strftime("%Y-%m-%d+%H%%3A%M%%3A%S")

    request = re.sub(r"(?<=[?&])(id|deviceid)=[^&]*", lambda m: f"{m[1]}={token}", request)
    return re.sub(r"timestamp=([^&]*)", stamp, request)


def reports_of(unit_id: int) -> list[DeviceReport]:
    db.session.expire_all()
    query = sa.select(DeviceReport).where(DeviceReport.unit_id == unit_id).order_by(DeviceReport.reported_at)
    return list(db.session.scalars(query))


@pytest.mark.parametrize(
    ("kind", "request_", "expected"),
    [(kind, request, expected) for (kind, request), expected in zip(TRACCAR_REQUESTS, TRACCAR_EXPECTED, strict=True)],
    ids=[f"json{i}" for i in range(len(TRACCAR_JSON_REQUESTS))]
    + [f"query{i}" for i in range(len(TRACCAR_QUERY_REQUESTS))],
)
def test_every_request_of_traccars_osmand_decoder_test(
    client: FlaskClient, now: Clock, kind: str, request_: str, expected: Any
) -> None:
    unit = f.unit("DMK-01")
    before = unit_row(unit.id)
    was = (before.lat, before.lon, before.position_at)
    at = now.tick(0)
    sent = moved_to_now(kind, request_, at, f.device_token(unit))
    if kind == "json":
        response = client.post("/gps/osmand", data=sent, content_type="application/json")
    else:
        response = client.get("/gps/osmand" + sent[1:])
    row = unit_row(unit.id)
    if expected == REFUSED:
        assert response.status_code == 401 and response.get_json()["error"]["field"] == "id"
        assert (row.lat, row.lon, row.position_at) == was
        assert stored(unit.id) == [] and reports_of(unit.id) == []
        return
    assert response.status_code == 200, response.get_json()
    if expected == REPORT:
        assert (row.lat, row.lon, row.position_at) == was
        assert stored(unit.id) == []
        [report] = reports_of(unit.id)
        assert (report.reported_at, report.received_at, report.cause) == (at, now.at, "absent")
        assert report.said == {
            "timestamp": str(int(at.timestamp())),
            "cell": ["257,02,16,2224", "257,02,16,2223,-90"],
            "wifi": ["00-14-22-01-23-45,-80", "00-1C-B3-09-85-15,-70"],
        }
        return
    [fix] = stored(unit.id)
    assert (row.lat, row.lon, row.position_at) == (expected["lat"], expected["lon"], at)
    assert {key: getattr(fix, key) for key in expected} == expected
    assert (fix.fix_at, fix.received_at) == (at, now.at)
    assert reports_of(unit.id) == []


# --- messages without a position, and garbage in the new forms --------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"location": "abc"}, "location"),
        ({"location": "91,0"}, "location"),
        ({"location": "0,181"}, "location"),
        ({"location": "60"}, "location"),
        ({"location": "nan,30"}, "location"),
        ({"location": "-1.25,116.9", "lat": "-1.3"}, "location"),
        ({"heading": "NaN"}, "heading"),
        ({"heading": "720"}, "heading"),
        ({"heading": "north", "bearing": "10"}, "heading"),
        ({"hdop": "-1"}, "hdop"),
        ({"hdop": "inf"}, "hdop"),
        ({"cell": "257,02,16"}, "cell"),
        ({"wifi": "00-14-22-01-23-45,loud"}, "wifi"),
        ({"timestamp": "2026-11-24T03:00:00[Mars/Olympus]"}, "timestamp"),
        ({"timestamp": "24/11/2026 03:00"}, "timestamp"),
    ],
)
@pytest.mark.parametrize("with_position", [True, False], ids=["lat-lon", "no-position"])
def test_garbage_in_the_new_forms_is_a_400_naming_the_field(
    client: FlaskClient, now: Clock, query: dict[str, str], field: str, with_position: bool
) -> None:
    unit = f.unit("DMK-01")
    before = unit_row(unit.id).position_at
    base = {"id": f.device_token(unit), **({"lat": "-1.25", "lon": "116.9"} if with_position else {})}
    response = client.get("/gps/osmand", query_string={**base, **query})
    assert response.status_code == 400, response.data
    assert response.get_json()["error"]["field"] == field
    assert stored(unit.id) == [] and reports_of(unit.id) == [] and unit_row(unit.id).position_at == before


@pytest.mark.parametrize(
    ("query", "cause"),
    [
        ({"lat": "0", "lon": "0"}, "zero"),
        ({"location": "0.0,0.0"}, "zero"),
        ({"lat": "-1.25", "lon": "116.9", "valid": "false"}, "invalid"),
        ({"cell": "510,10,1234,5678,-71"}, "absent"),
        ({}, "absent"),
    ],
)
def test_a_message_without_a_usable_position_moves_nobody_and_fires_no_geofence(
    client: FlaskClient, now: Clock, query: dict[str, str], cause: str
) -> None:
    unit, token, _, _ = en_route_unit(client, now)
    assert osmand(client, token, now.tick(5), AWAY).status_code == 200
    was = (unit_row(unit.id).lat, unit_row(unit.id).lon, unit_row(unit.id).position_at)
    fixes = len(stored(unit.id))
    for _ in range(8):  # 40 s of reports: twice the dwell, had they been fixes at the scene
        sent = {"id": token, "timestamp": str(int(now.tick(5).timestamp())), "batt": "33", "charge": "true", **query}
        assert client.get("/gps/osmand", query_string=sent).status_code == 200
    row = unit_row(unit.id)
    assert (row.lat, row.lon, row.position_at) == was and row.status == "en_route"
    assert len(stored(unit.id)) == fixes
    reports = reports_of(unit.id)
    assert len(reports) == 8
    assert {(r.cause, r.battery_pct, r.charging) for r in reports} == {(cause, 33.0, True)}
    assert all("id" not in r.said and token not in str(r.said) for r in reports)


def test_a_resent_report_is_kept_once(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    sent = {"id": f.device_token(unit), "timestamp": str(int(now.at.timestamp())), "cell": "510,10,1234,5678"}
    assert client.get("/gps/osmand", query_string=sent).status_code == 200
    assert client.get("/gps/osmand", query_string=sent).status_code == 200
    assert len(reports_of(unit.id)) == 1


def test_a_body_that_is_a_query_string_is_read_whatever_its_content_type(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    body = f"id={f.device_token(unit)}&location=-1.25,116.9&heading=270&timestamp={int(now.at.timestamp())}"
    response = client.post("/gps/osmand", data=body, content_type="text/plain")
    assert response.status_code == 200, response.get_json()
    [fix] = stored(unit.id)
    assert (fix.lat, fix.lon, fix.bearing_deg, fix.fix_at) == (-1.25, 116.9, 270.0, now.at)
    bad = client.post("/gps/osmand", data=b"id=\xff\xfe", content_type="text/plain")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "body"


def test_traccar_client_9_without_coords_is_a_report_without_the_token(client: FlaskClient, now: Clock) -> None:
    unit = f.unit("DMK-01")
    token = f.device_token(unit)
    was = unit_row(unit.id).position_at
    location = {
        "timestamp": iso(now.at),
        "battery": {"level": 0.2, "is_charging": True},
        "event": "heartbeat",
        "_": f"&id={token}&timestamp={iso(now.at)}&",
    }
    response = client.post("/gps/osmand", json={"device_id": token, "location": location})
    assert response.status_code == 200, response.get_json()
    assert unit_row(unit.id).position_at == was and stored(unit.id) == []
    [report] = reports_of(unit.id)
    assert (report.cause, report.battery_pct, report.charging) == ("absent", 20.0, True)
    assert report.said["event"] == "heartbeat" and token not in str(report.said)
