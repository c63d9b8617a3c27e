"""Recommendations through the API: the best five by default and every capable unit with
`limit=all` (`total` says how many there are), each one dispatchable; units ranked from their
station say so; a closed road at the scene ranks units to where they can stop, with the walk and
the reason, and the crew's route says the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import closed_scene as town
import factories as f
import pytest
from flask import Flask
from flask.testing import FlaskClient
from live import running
from sqlalchemy import select

from cad.api.schemas import RecommendationList
from cad.app import create_app
from cad.config import Settings
from cad.db import db
from cad.models import Assignment, Camera, Role


def _incident(client: FlaskClient, headers: dict[str, str], **over: object) -> dict:
    response = client.post("/api/v1/incidents", json=dict(f.INCIDENT, **over), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_every_capable_unit_is_returned_and_the_tenth_can_be_dispatched(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    units = [f.unit(f"DMK-{i:02d}", lat=-1.2650 - 0.002 * i, lon=116.8400) for i in range(1, 13)]
    f.unit("AMB-01", "ambulance", lat=-1.2651, lon=116.8401, agency_code="ambulans")  # not capable
    incident = _incident(client, headers)
    url = f"/api/v1/incidents/{incident['id']}/recommendations"
    best = client.get(url, headers=headers).get_json()  # what the console asks first: the best five
    _as_the_schema_says(best)
    assert [r["callsign"] for r in best["recommendations"]] == [u.callsign for u in units[:5]]
    assert best["total"] == 12
    body = client.get(url + "?limit=all", headers=headers).get_json()
    ranked = body["recommendations"]
    _as_the_schema_says(body)
    assert [r["callsign"] for r in ranked] == [u.callsign for u in units]  # all 12, nearest first
    assert body["total"] == 12 and _proposal(body) == _proposal(best)  # the run card from every unit either way
    assert all(r["closed_road"] is False and r["walk_m"] == 0 and r["walk_reason"] is None for r in ranked)
    tenth = ranked[9]
    sent = client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": tenth["unit_id"]}, headers=headers
    )
    assert sent.status_code == 201, sent.get_json()
    after = client.get(url + "?limit=all", headers=headers).get_json()
    assert (
        len(after["recommendations"]) == 11
        and after["total"] == 11
        and tenth["unit_id"] not in {r["unit_id"] for r in after["recommendations"]}
    )
    three = client.get(f"/api/v1/incidents/{incident['id']}/recommendations?limit=3", headers=headers).get_json()
    assert [r["callsign"] for r in three["recommendations"]] == ["DMK-01", "DMK-02", "DMK-03"]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "100000", "", "ALL", "null"])
def test_bad_limit_is_a_400_naming_limit(client: FlaskClient, value: str) -> None:
    _, headers = f.user(Role.DISPATCHER)
    f.unit("DMK-01")
    incident = _incident(client, headers)
    response = client.get(f"/api/v1/incidents/{incident['id']}/recommendations?limit={value}", headers=headers)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["field"] == "limit"


def test_a_unit_ranked_from_its_station_says_how_old_its_gps_is(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    home = f.station("Pos Klandasan", lat=-1.2660, lon=116.8410)
    f.unit("DMK-01", lat=-1.2650, lon=116.8401, fix_age_s=14 * 60, home=home)
    f.unit("DMK-02", lat=None, lon=None, fix_age_s=None, home=home)
    incident = _incident(client, headers)
    ranked = client.get(f"/api/v1/incidents/{incident['id']}/recommendations", headers=headers).get_json()
    by_callsign = {r["callsign"]: r for r in ranked["recommendations"]}
    stale, none = by_callsign["DMK-01"], by_callsign["DMK-02"]
    assert stale["ranked_from"] == "station" and stale["position_age_s"] == pytest.approx(840, abs=1)
    assert none["ranked_from"] == "station" and none["position_age_s"] is None
    assert "no GPS fix" in none["reason"]


@pytest.fixture
def town_client(database_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    settings = Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": str(town.write_extract(tmp_path)),
        }
    )
    app: Flask = create_app({"TESTING": True}, settings=settings)
    app.extensions["warroom.roads"].cache_dir = tmp_path / "roads"
    yield from running(app)


def _proposal(body: dict) -> list[tuple[list[str], list[int]]]:
    return [([c["callsign"] for c in s["candidates"]], s["proposed"]) for s in body["run_card"]["slots"]]


def _as_the_schema_says(body: dict) -> None:
    """The endpoint writes its JSON without the operation's pydantic pass: it must be what that
    pass would have sent."""
    model = RecommendationList.model_validate(body)
    assert model.model_dump(mode="json") == body


def _close_the_access(client: FlaskClient, headers: dict[str, str]) -> None:
    lat, lon = town.CAMERA
    db.session.add(Camera(code="CAM-BUNTU", name="Jalan Buntu", lat=lat, lon=lon, radius_m=town.CAMERA_RADIUS_M))
    db.session.commit()
    posted = client.post("/api/v1/cameras/CAM-BUNTU/congestion", json={"level": "closed"}, headers=headers)
    assert posted.status_code == 201 and posted.get_json()["watches_road"] is True, posted.get_json()


def test_p1_fire_behind_a_closed_road_ranks_fire_engines_with_the_walk(town_client: FlaskClient) -> None:
    client = town_client
    _, headers = f.user(Role.DISPATCHER)
    west = f.unit("DMK-01", lat=town.WEST[0], lon=town.WEST[1])
    f.unit("DMK-02", lat=town.EAST[0], lon=town.EAST[1])
    scene = {"lat": town.SCENE[0], "lon": town.SCENE[1], "accuracy_m": 10}
    incident = _incident(client, headers, type="kebakaran", priority=1, location=scene)
    url = f"/api/v1/incidents/{incident['id']}/recommendations"
    open_road = client.get(url, headers=headers).get_json()["recommendations"]
    assert [r["closed_road"] for r in open_road] == [False, False] and open_road[0]["walk_m"] == 0

    _close_the_access(client, headers)
    body = client.get(url, headers=headers).get_json()
    _as_the_schema_says(body)
    ranked = body["recommendations"]
    assert [r["callsign"] for r in ranked] == ["DMK-01", "DMK-02"]  # not "no suitable unit"
    for r in ranked:
        assert r["method"] == "road" and r["closed_road"] is True
        assert r["walk_m"] == pytest.approx(town.WALK_M, rel=0.02)
        assert r["walk_reason"].startswith("road closed at the scene") and f"{r['walk_m']:.0f} m" in r["walk_reason"]
        assert r["stop"] == {"lat": pytest.approx(town.JUNCTION[0]), "lon": pytest.approx(town.JUNCTION[1])}
        assert r["eta_s"] > r["walk_m"] / 1.3  # the ETA includes the walk
    assert body["run_card"]["slots"][0]["candidates"][0]["closed_road"] is True

    sent = client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": west.id}, headers=headers)
    assert sent.status_code == 201, sent.get_json()
    route = client.get(f"/api/v1/units/{west.id}/route", headers=headers).get_json()
    assert route["closed_road"] is True and route["reachable"] is False
    assert route["walk_m"] == pytest.approx(town.WALK_M, rel=0.02)
    assert route["stop"] == {"lat": pytest.approx(town.JUNCTION[0]), "lon": pytest.approx(town.JUNCTION[1])}
    assert route["geometry"]["coordinates"][-1] == pytest.approx([town.JUNCTION[1], town.JUNCTION[0]])
    assert {e["name"] for e in route["congested_edges_avoided"] if e["level"] == "closed"} == {"Jalan Buntu"}

    code = db.session.scalar(select(Assignment.crew_code).where(Assignment.unit_id == west.id))
    page = client.get(f"/c/{code}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Jalan ditutup" in text and f"berjalan {route['walk_m']:.0f} m" in text and "Jalan Buntu" in text
