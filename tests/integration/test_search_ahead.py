"""A new or moved incident's road searches are done once its answer is sent, and every worker of
the machine finds them (routing.field_store): the dispatcher's first look at it, on whichever
worker, ranks the units without searching, and ranks them as a search would."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
from flask import Flask
from flask.testing import FlaskClient
from requirements import needs_file

from cad.app import close_app, create_app
from cad.config import SHARED_DATA, Settings
from cad.models import Role
from cad.services.dispatching import ranked_types

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"
pytestmark = needs_file(ROADS)


@pytest.fixture
def roads_app(database_url: str, tmp_path: Path, committing_factories: None) -> Iterator[Flask]:
    """A centre on the Balikpapan extract, its graph cache and searches in this test's folder."""
    from live import CommittingClient

    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": str(ROADS)}
    )
    app = create_app({"TESTING": True}, settings=settings)
    app.test_client_class = CommittingClient
    with app.app_context():
        yield app
    close_app(app)


def _worker(app: Flask) -> Flask:
    """Another gunicorn worker of the same machine: the same settings and instance folder, its own
    app, router and memory."""
    from live import CommittingClient

    worker = create_app({"TESTING": True}, settings=app.config["WARROOM"])
    worker.test_client_class = CommittingClient
    return worker


def _post(client: FlaskClient, headers: dict[str, str], **over: object) -> dict:
    reply = client.post("/api/v1/incidents", json=dict(f.INCIDENT, **over), headers=headers)
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    reply.close()  # the server closes the answer once sent: the searches ahead run then
    return body


def _ranked(client: FlaskClient, headers: dict[str, str], incident_id: int) -> list[tuple[str, float]]:
    reply = client.get(f"/api/v1/incidents/{incident_id}/recommendations?limit=all", headers=headers)
    assert reply.status_code == 200, reply.get_json()
    return [(r["callsign"], r["eta_s"]) for r in reply.get_json()["recommendations"]]


def test_the_first_look_on_another_worker_ranks_without_searching(roads_app: Flask, searches: list[int]) -> None:
    client = roads_app.test_client()
    _, headers = f.user(Role.DISPATCHER)
    for i in range(4):
        f.unit(f"DMK-{i:02d}", lat=-1.2660 - 0.003 * i, lon=116.8390 + 0.002 * i)
        f.unit(f"AMB-{i:02d}", "ambulance", lat=-1.2700 + 0.002 * i, lon=116.8450, agency_code="ambulans")
    reply = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers)
    assert reply.status_code == 201 and roads_app.extensions["warroom.roads"]._router is None  # answered first
    assert searches == []
    incident = reply.get_json()
    reply.close()  # sent: now the graph is loaded (this centre loads it on first use) and searched
    card_types = ranked_types("kebakaran", 1)[2]
    assert len(searches) == len(card_types) > 1  # one per unit type the recommendation ranks
    stored = roads_app.config["WARROOM"].instance_path / "roads" / "fields"
    assert len(list(stored.glob("*.field"))) == len(card_types)
    searches.clear()
    other = _worker(roads_app)
    try:
        there = _ranked(other.test_client(), headers, incident["id"])
    finally:
        close_app(other)
    here = _ranked(client, headers, incident["id"])
    assert searches == []  # neither worker searched: the other read the files, this one kept them
    assert there == here and {c for c, _ in here} >= {"DMK-00", "DMK-03"}
    for path in stored.glob("*.field"):  # the files were right: a worker that searches itself ranks the same
        path.unlink()
    fresh = _worker(roads_app)
    try:
        assert _ranked(fresh.test_client(), headers, incident["id"]) == here
    finally:
        close_app(fresh)
    assert len(searches) == 1  # the fire engines': no water tanker or rescue unit to rank here


def test_a_moved_incident_is_searched_again_and_one_without_a_place_is_not(
    roads_app: Flask, searches: list[int]
) -> None:
    client = roads_app.test_client()
    _, headers = f.user(Role.CALL_TAKER)
    f.unit("POL-01", "police", lat=-1.2660, lon=116.8390, agency_code="polisi")
    unplaced = _post(client, headers, type="keamanan", priority=3, location=None)
    assert searches == []
    incident = _post(client, headers, type="keamanan", priority=3)
    assert len(searches) == 1  # police only
    moved = client.patch(
        f"/api/v1/incidents/{incident['id']}",
        json={"location": {"lat": -1.2620, "lon": 116.8420, "accuracy_m": 10}},
        headers=headers,
    )
    assert moved.status_code == 200, moved.get_json()
    moved.close()
    assert len(searches) == 2
    described = client.patch(f"/api/v1/incidents/{incident['id']}", json={"description": "dua orang"}, headers=headers)
    described.close()
    assert len(searches) == 2  # nothing that changes the ranking: nothing searched
    placed = client.patch(
        f"/api/v1/incidents/{unplaced['id']}",
        json={"location": {"lat": -1.2630, "lon": 116.8400, "accuracy_m": 10}},
        headers=headers,
    )
    placed.close()
    assert len(searches) == 3


def test_an_incident_off_the_roads_is_not_searched_ahead_and_is_no_error(
    roads_app: Flask, searches: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cad.api.incidents")
    _, headers = f.user(Role.CALL_TAKER)
    at_sea = {"lat": -1.40, "lon": 117.20, "accuracy_m": 10}  # the Makassar Strait, far from any road
    incident = _post(roads_app.test_client(), headers, location=at_sea)
    assert incident["location"]["lat"] == -1.40 and searches == []
    said = [r for r in caplog.records if "searches ahead" in r.getMessage()]
    assert [r.levelname for r in said] == ["INFO"] and not [r for r in caplog.records if r.levelname == "ERROR"]
