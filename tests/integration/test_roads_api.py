"""Routing through the API: road ETAs in recommendations, routes, and camera congestion."""

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

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"
pytestmark = needs_file(ROADS)

# Two points on the Balikpapan extract, about 1.5 km apart by road
A = (-1.2698, 116.8340)
B = (-1.2760, 116.8470)


@pytest.fixture(scope="session")
def roads_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roads")


@pytest.fixture
def road_client(database_url: str, tmp_path: Path, roads_cache: Path) -> Iterator[FlaskClient]:
    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": str(ROADS)}
    )
    app: Flask = create_app({"TESTING": True}, settings=settings)
    app.extensions["warroom.roads"].cache_dir = roads_cache
    yield from running(app)


def _route(client: FlaskClient, headers: dict[str, str], profile: str = "ambulance") -> dict:
    response = client.get(f"/api/v1/route?from={A[0]},{A[1]}&to={B[0]},{B[1]}&profile={profile}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_route_follows_the_roads(road_client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    route = _route(road_client, headers)
    coords = route["geometry"]["coordinates"]
    assert route["geometry"]["type"] == "LineString" and len(coords) > 5
    straight_m = 1600
    assert route["distance_m"] > straight_m * 0.9
    assert route["eta_s"] == route["eta_free_flow_s"] > 0
    assert route["congested_edges_on_route"] == [] and route["congested_edges_avoided"] == []


def test_a_jam_seen_by_a_camera_on_the_route_raises_the_eta(road_client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    before = _route(road_client, headers)
    lon, lat = before["geometry"]["coordinates"][len(before["geometry"]["coordinates"]) // 2]
    db.session.add(Camera(code="CAM-X", name="CCTV test", lat=lat, lon=lon, radius_m=40))
    db.session.commit()
    posted = road_client.post("/api/v1/cameras/CAM-X/congestion", json={"level": "closed"}, headers=headers)
    assert posted.status_code == 201, posted.get_json()
    assert posted.get_json()["level"] == "closed" and posted.get_json()["watches_road"] is True
    after = _route(road_client, headers)
    assert after["eta_s"] > before["eta_s"]
    assert after["eta_free_flow_s"] == pytest.approx(before["eta_s"])
    assert after["geometry"]["coordinates"] != before["geometry"]["coordinates"]
    assert {e["camera"] for e in after["congested_edges_avoided"]} == {"CAM-X"}
    cameras = {c["code"]: c for c in road_client.get("/api/v1/cameras", headers=headers).get_json()}
    assert cameras["CAM-X"]["level"] == "closed" and cameras["CAM-X"]["expires_at"]


def test_recommendations_use_road_travel_times(road_client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    f.unit("AMB-01", "ambulance", lat=A[0], lon=A[1], agency_code="ambulans")
    f.unit("AMB-02", "ambulance", lat=-1.2600, lon=116.8600, agency_code="ambulans")
    incident = road_client.post(
        "/api/v1/incidents",
        headers=headers,
        json={"type": "medis", "priority": 1, "location": {"lat": B[0], "lon": B[1]}},
    ).get_json()
    body = road_client.get(f"/api/v1/incidents/{incident['id']}/recommendations", headers=headers).get_json()
    ranked = body["recommendations"]
    assert [r["method"] for r in ranked] == ["road", "road"]
    route = _route(road_client, headers)
    first = next(r for r in ranked if r["callsign"] == "AMB-01")
    assert first["eta_s"] == pytest.approx(route["eta_s"], rel=0.05)
    assert first["distance_m"] == pytest.approx(route["distance_m"], rel=0.05)


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("from=-1.2698,116.8340&to=-6.2000,106.8166", 400, "to"),  # Jakarta: far outside the extract
        ("from=-6.2000,106.8166&to=-1.2760,116.8470", 400, "from"),
        ("from=91,116.8&to=-1.2760,116.8470", 400, "from"),
        ("from=somewhere&to=-1.2760,116.8470", 400, "from"),
        ("to=-1.2760,116.8470", 400, "from"),
        ("from=-1.2698,116.8340&to=-1.2760,116.8470&profile=tank", 400, "profile"),
    ],
)
def test_bad_route_queries(road_client: FlaskClient, query: str, status: int, field: str) -> None:
    _, headers = f.user(Role.DISPATCHER)
    response = road_client.get(f"/api/v1/route?{query}", headers=headers)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["field"] == field


def test_bad_congestion_readings(road_client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    db.session.add(Camera(code="CAM-Y", name="CCTV", lat=A[0], lon=A[1], radius_m=40))
    db.session.commit()
    unknown = road_client.post("/api/v1/cameras/NOPE/congestion", json={"level": "jam"}, headers=headers)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["field"] == "code"
    bad = road_client.post("/api/v1/cameras/CAM-Y/congestion", json={"level": "gridlock"}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "level"
    old = road_client.post(
        "/api/v1/cameras/CAM-Y/congestion",
        headers=headers,
        json={"level": "jam", "observed_at": "2020-01-01T00:00:00Z"},
    )
    assert old.status_code == 400 and old.get_json()["error"]["field"] == "observed_at"
    _, crew = f.user(Role.CREW)
    assert road_client.post("/api/v1/cameras/CAM-Y/congestion", json={"level": "jam"}, headers=crew).status_code == 403


def test_without_road_data_routes_are_503_and_recommendations_geodesic(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    response = client.get(f"/api/v1/route?from={A[0]},{A[1]}&to={B[0]},{B[1]}", headers=headers)
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "no_road_network"
