"""GET /api/v1/coverage on the Balikpapan extract, on SQLite and PostgreSQL: the figures are the
pure module's on the centre's own router, they fall when a unit is sent, move-ups name a unit and
a station, answers are kept until something changes, and bad input is a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
from flask import Flask
from flask.testing import FlaskClient
from live import running
from requirements import needs_file

from cad.app import create_app
from cad.config import SHARED_DATA, Settings
from cad.db import db
from cad.models import Camera, Role
from routing.coverage import CoverageEngine

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"
pytestmark = needs_file(ROADS)

WEST = (-1.2698, 116.8340)  # two spots of the extract about 1.5 km apart by road
EAST = (-1.2760, 116.8470)


@pytest.fixture(scope="session")
def roads_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roads")


def _client(database_url: str, tmp_path: Path, roads_cache: Path, **env: str) -> Iterator[FlaskClient]:
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": str(ROADS), **env}
    )
    app: Flask = create_app({"TESTING": True}, settings=settings)
    app.extensions["warroom.roads"].cache_dir = roads_cache
    yield from running(app)


@pytest.fixture
def road_client(database_url: str, tmp_path: Path, roads_cache: Path) -> Iterator[FlaskClient]:
    yield from _client(database_url, tmp_path, roads_cache)


def _fleet() -> None:
    """Two fire stations; both engines at the western one (so a move east wins road), an
    ambulance, and cameras naming two districts."""
    west = f.station("Pos Barat", *WEST)
    f.station("Pos Timur", *EAST)
    f.unit("DMK-1", lat=WEST[0], lon=WEST[1], home=west)
    f.unit("DMK-2", lat=WEST[0] + 0.0003, lon=WEST[1], home=west)
    f.unit("AMB-1", "ambulance", lat=EAST[0], lon=EAST[1], agency_code="ambulans")
    db.session.add_all(
        [
            Camera(code="CAM-W", name="CCTV barat", lat=WEST[0], lon=WEST[1], district="Barat"),
            Camera(code="CAM-E", name="CCTV timur", lat=EAST[0], lon=EAST[1], district="Timur"),
        ]
    )
    db.session.commit()


def _get(client: FlaskClient, headers: dict[str, str], query: str = "type=fire_engine") -> dict:
    response = client.get(f"/api/v1/coverage?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_coverage_is_the_pure_figure_and_falls_when_a_unit_is_sent(road_client: FlaskClient) -> None:
    _fleet()
    _, headers = f.user(Role.DISPATCHER)
    body = _get(road_client, headers)
    [fire] = body["types"]
    assert fire["type"] == "fire_engine" and fire["target_s"] == 240.0
    assert fire["units_total"] == fire["units_available"] == 2 and fire["units_unplaced"] == []
    assert 0 < fire["share"] < 1
    router = road_client.application.extensions["warroom.roads"].router(db.session)
    pure = CoverageEngine(router).coverage("fire_engine", [WEST, (round(WEST[0] + 0.0003, 4), WEST[1])], 240.0)
    assert fire["share"] == pytest.approx(pure.share, abs=1e-4)
    assert fire["covered_km"] == pytest.approx(pure.covered_m / 1000, abs=1e-3)
    assert fire["total_km"] == pytest.approx(pure.total_m / 1000, abs=1e-3)
    assert {d["name"] for d in fire["districts"]} == {"Barat", "Timur"}
    assert sum(d["total_km"] for d in fire["districts"]) == pytest.approx(fire["total_km"], abs=0.01)
    layer = fire["uncovered"]
    assert layer["type"] == "FeatureCollection" and layer["features"]
    assert {feat["properties"]["covered_ends"] for feat in layer["features"]} <= {0, 1}

    # both engines sent: nothing of the city is within 240 s of a fire engine any more
    incident = road_client.post(
        "/api/v1/incidents",
        headers=headers,
        json={"type": "kebakaran", "priority": 1, "location": {"lat": EAST[0], "lon": EAST[1]}},
    ).get_json()
    first = road_client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": _unit_id("DMK-1")}, headers=headers
    )
    assert first.status_code == 201, first.get_json()
    one_left = _get(road_client, headers)["types"][0]
    assert one_left["units_available"] == 1
    assert 0 < one_left["share"] < fire["share"]
    road_client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": _unit_id("DMK-2")}, headers=headers
    )
    none_left = _get(road_client, headers)["types"][0]
    assert none_left["share"] == 0.0 and none_left["covered_km"] == 0.0 and none_left["suggestions"] == []
    assert none_left["districts_covered"] == 0


def _unit_id(callsign: str) -> int:
    from cad.models import Unit

    return int(db.session.query(Unit.id).filter_by(callsign=callsign).scalar())


def test_a_move_up_sends_an_engine_to_the_empty_station(road_client: FlaskClient) -> None:
    _fleet()
    _, headers = f.user(Role.MANAGER)
    fire = _get(road_client, headers, "type=fire_engine&suggestions=2&layer=false")["types"][0]
    assert fire["uncovered"] is None
    best = fire["suggestions"][0]
    assert best["station"] == "Pos Timur" and best["callsign"] in {"DMK-1", "DMK-2"}
    assert best["post"] == pytest.approx({"lat": EAST[0], "lon": EAST[1]})
    assert best["origin"]["ranked_from"] == "position"
    assert best["gain_km"] > 0 and best["share_after"] == pytest.approx(fire["share"] + best["gain_share"], abs=2e-4)
    assert [d["name"] for d in best["districts"]] == ["Timur"]
    assert best["districts"][0]["share_after"] > best["districts"][0]["share_before"]
    assert len(fire["suggestions"]) == 1  # the other engine's move is to the same station: not a second one


def test_every_type_in_the_fleet_and_units_measured_from_their_station(road_client: FlaskClient) -> None:
    _fleet()
    home = f.station("Pos Tengah", -1.2730, 116.8400)
    f.unit("DMK-3", lat=None, lon=None, fix_age_s=None, home=home)  # no GPS: measured from its station
    f.unit("DMK-4", lat=None, lon=None, fix_age_s=None)  # neither GPS nor station
    _, headers = f.user(Role.ADMIN)
    body = _get(road_client, headers, "")
    by_type = {t["type"]: t for t in body["types"]}
    assert set(by_type) == {"fire_engine", "ambulance"}
    assert by_type["ambulance"]["units_available"] == 1 and by_type["ambulance"]["share"] > 0
    fire = by_type["fire_engine"]
    assert fire["units_total"] == 4 and fire["units_unplaced"] == ["DMK-4"]


def test_answers_are_kept_until_a_unit_changes(road_client: FlaskClient) -> None:
    _fleet()
    _, headers = f.user(Role.DISPATCHER)
    first = _get(road_client, headers)
    service = road_client.application.extensions["warroom.coverage"]
    computed = service.computed
    assert _get(road_client, headers)["types"][0] == first["types"][0]
    assert service.computed == computed  # a second dispatcher refreshing costs nothing
    out = road_client.post(
        f"/api/v1/units/{_unit_id('DMK-2')}/status", json={"status": "out_of_service"}, headers=headers
    )
    assert out.status_code == 200, out.get_json()
    assert _get(road_client, headers)["types"][0]["units_available"] == 1
    assert service.computed == computed + 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("type=tank", "type"),
        ("suggestions=11", "suggestions"),
        ("suggestions=-1", "suggestions"),
        ("suggestions=many", "suggestions"),
        ("layer=perhaps", "layer"),
    ],
)
def test_bad_coverage_queries(road_client: FlaskClient, query: str, field: str) -> None:
    _, headers = f.user(Role.DISPATCHER)
    response = road_client.get(f"/api/v1/coverage?{query}", headers=headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["field"] == field


@pytest.mark.parametrize("role", [Role.CALL_TAKER, Role.CREW])
def test_who_may_see_coverage(road_client: FlaskClient, role: Role) -> None:
    _, headers = f.user(role)
    assert road_client.get("/api/v1/coverage", headers=headers).status_code == 403
    assert road_client.get("/api/v1/coverage").status_code == 401


def test_targets_per_type_come_from_the_setting(database_url: str, tmp_path: Path, roads_cache: Path) -> None:
    for client in _client(database_url, tmp_path, roads_cache, WARROOM_COVERAGE_TARGETS="fire_engine:120"):
        _fleet()
        _, headers = f.user(Role.DISPATCHER)
        short = _get(client, headers)["types"][0]
        assert short["target_s"] == 120.0
        router = client.application.extensions["warroom.roads"].router(db.session)
        pure = CoverageEngine(router).coverage("fire_engine", [WEST, (round(WEST[0] + 0.0003, 4), WEST[1])], 120.0)
        assert short["share"] == pytest.approx(pure.share, abs=1e-4)


def test_a_bad_targets_setting_is_named(database_url: str, tmp_path: Path, roads_cache: Path) -> None:
    for client in _client(database_url, tmp_path, roads_cache, WARROOM_COVERAGE_TARGETS="fire_engine:soon"):
        _, headers = f.user(Role.DISPATCHER)
        response = client.get("/api/v1/coverage", headers=headers)
        assert response.status_code == 500
        assert "WARROOM_COVERAGE_TARGETS" in response.get_json()["error"]["message"]


def test_no_road_network(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    response = client.get("/api/v1/coverage", headers=headers)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "no_road_network"
