"""Telling the crew: SMS with their link, the link page, acknowledging by link or by SMS,
routes that follow the congestion, and the acknowledgement alert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
from fake_twilio import PUBLIC, TWILIO_AUTH_TOKEN, FakeTwilio, sms
from flask.testing import FlaskClient
from live import client_with
from requirements import needs_file

from cad.config import SHARED_DATA
from cad.db import db
from cad.models import Assignment, Camera, Role, TimelineEvent
from cad.roads import travel_times
from cad.services.dispatching import escalate_if_unacknowledged

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"
HERE, THERE = (-1.2698, 116.8340), (-1.2760, 116.8470)


@pytest.fixture
def centre(database_url: str, tmp_path: Path, twilio_api: FakeTwilio) -> Iterator[FlaskClient]:
    yield from client_with(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": str(ROADS) if ROADS.exists() else "",
            "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
            "TWILIO_ACCOUNT_SID": twilio_api.account_sid,
            "TWILIO_FROM": "+62811112",
            "TWILIO_API_URL": twilio_api.url,
            "WARROOM_PUBLIC_URL": PUBLIC,
        }
    )


def _dispatch(client: FlaskClient, crew_phone: str | None = "+6281377700001") -> tuple[dict, dict, dict]:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01", lat=HERE[0], lon=HERE[1])
    unit.crew_phone = crew_phone
    db.session.commit()
    incident = client.post(
        "/api/v1/incidents",
        headers=headers,
        json={
            "type": "kebakaran",
            "priority": 1,
            "address": "Jl. Jenderal Sudirman 5",
            "location": {"lat": THERE[0], "lon": THERE[1]},
        },
    ).get_json()
    assigned = client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=headers
    )
    assert assigned.status_code == 201, assigned.get_json()
    return incident, assigned.get_json(), headers


def test_the_crew_gets_an_sms_with_their_link_and_the_timeline_says_so(
    centre: FlaskClient, twilio_api: FakeTwilio
) -> None:
    incident, assignment, _ = _dispatch(centre)
    [sent] = twilio_api.sent
    code = db.session.get_one(Assignment, assignment["id"]).crew_code
    assert sent["To"] == "+6281377700001"
    assert incident["number"] in sent["Body"] and "KEBAKARAN P1" in sent["Body"]
    assert "Jl. Jenderal Sudirman 5" in sent["Body"] and f"{PUBLIC}/c/{code}" in sent["Body"]
    events = db.session.query(TimelineEvent).filter_by(kind="unit_notified").one()
    assert events.data["sms"] == "queued" and events.data["sms_sid"].startswith("SM")


def test_the_link_page_shows_the_job_and_moves_the_unit(centre: FlaskClient) -> None:
    incident, assignment, headers = _dispatch(centre, crew_phone=None)
    code = db.session.get_one(Assignment, assignment["id"]).crew_code
    page = centre.get(f"/c/{code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert incident["number"] in html and "Jl. Jenderal Sudirman 5" in html and "Terima" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert centre.post(f"/c/{code}/status", data={"status": "acknowledged"}).status_code == 403  # no CSRF token
    moved = centre.post(f"/c/{code}/status", data={"status": "acknowledged", "csrf_token": token})
    assert moved.status_code == 303
    assert centre.get(f"/api/v1/units/{assignment['unit_id']}", headers=headers).get_json()["status"] == "acknowledged"
    assert centre.get("/c/not-a-real-code").status_code == 404
    assert centre.post(f"/c/{code}/status", data={"status": "available", "csrf_token": token}).status_code == 409


def test_a_crew_without_the_app_says_it_cannot_go_from_its_link(centre: FlaskClient) -> None:
    incident, assignment, headers = _dispatch(centre, crew_phone=None)
    code = db.session.get_one(Assignment, assignment["id"]).crew_code
    html = centre.get(f"/c/{code}").get_data(as_text=True)
    assert "Tidak bisa berangkat?" in html and "Kendaraan rusak" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    bogus = centre.post(f"/c/{code}/decline", data={"reason": "malas", "csrf_token": token})
    assert bogus.status_code == 400 and bogus.get_json()["error"]["field"] == "reason"
    declined = centre.post(f"/c/{code}/decline", data={"reason": "rusak", "csrf_token": token})
    assert declined.status_code == 303
    unit = centre.get(f"/api/v1/units/{assignment['unit_id']}", headers=headers).get_json()
    assert unit["status"] == "out_of_service" and unit["incident_id"] is None
    timeline = centre.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()["timeline"]
    [event] = [e for e in timeline if e["kind"] == "unit_declined"]
    assert event["actor"].startswith("crew:") and event["data"]["by"] == "crew"
    after = centre.get(f"/c/{code}").get_data(as_text=True)
    assert "Tidak bisa berangkat?" not in after and "tugas selesai" in after
    again = centre.post(f"/c/{code}/decline", data={"reason": "rusak", "csrf_token": token})
    assert again.status_code == 409


def test_the_crew_acknowledges_by_answering_ok(centre: FlaskClient) -> None:
    _, assignment, headers = _dispatch(centre)
    reply = sms(centre, "ok", "SMcrew1", sender="+6281377700001")
    assert "diterima, DMK-01" in reply.get_data(as_text=True)
    assert centre.get(f"/api/v1/units/{assignment['unit_id']}", headers=headers).get_json()["status"] == "acknowledged"
    again = sms(centre, "OK", "SMcrew2", sender="+6281377700001")
    assert "sudah tercatat" in again.get_data(as_text=True)
    kinds = [e.kind for e in db.session.query(TimelineEvent).filter_by(kind="unit_acknowledged")]
    assert kinds == ["unit_acknowledged"]


@needs_file(ROADS)
def test_the_crew_route_changes_when_a_camera_sees_a_jam_on_it(centre: FlaskClient) -> None:
    _, assignment, headers = _dispatch(centre, crew_phone=None)
    route = centre.get(f"/api/v1/units/{assignment['unit_id']}/route", headers=headers)
    assert route.status_code == 200, route.get_json()
    coords = route.get_json()["geometry"]["coordinates"]
    lon, lat = coords[len(coords) // 2]
    db.session.add(Camera(code="CAM-R", name="CCTV", lat=lat, lon=lon, radius_m=40))
    db.session.commit()
    assert centre.post("/api/v1/cameras/CAM-R/congestion", json={"level": "closed"}, headers=headers).status_code == 201
    changed = db.session.query(TimelineEvent).filter_by(kind="route_changed").one()
    assert changed.unit_id == assignment["unit_id"] and changed.data["eta_s"] > route.get_json()["eta_s"]
    after = centre.get(f"/api/v1/units/{assignment['unit_id']}/route", headers=headers).get_json()
    assert after["geometry"]["coordinates"] != coords


def test_an_unacknowledged_assignment_alerts_once_and_offers_the_next_unit(centre: FlaskClient) -> None:
    incident, assignment, _ = _dispatch(centre, crew_phone=None)
    f.unit("DMK-02", lat=HERE[0], lon=HERE[1] + 0.001)
    estimator = travel_times(centre.application.extensions["warroom.roads"], db.session)
    first = escalate_if_unacknowledged(db.session, assignment["id"], estimator, stale_after_s=120)
    second = escalate_if_unacknowledged(db.session, assignment["id"], estimator, stale_after_s=120)
    assert first is not None and second is None
    assert first["callsign"] == "DMK-01" and first["next_callsign"] == "DMK-02"
    [overdue] = db.session.query(TimelineEvent).filter_by(kind="ack_overdue").all()
    assert overdue.incident_id == incident["id"] and overdue.actor == "scheduler"


def test_an_acknowledged_assignment_never_alerts(centre: FlaskClient) -> None:
    _, assignment, headers = _dispatch(centre, crew_phone=None)
    centre.post(f"/api/v1/units/{assignment['unit_id']}/status", json={"status": "acknowledged"}, headers=headers)
    estimator = travel_times(centre.application.extensions["warroom.roads"], db.session)
    assert escalate_if_unacknowledged(db.session, assignment["id"], estimator, stale_after_s=120) is None


def test_assignment_sets_the_timer_in_the_database_job_store(centre: FlaskClient) -> None:
    import sqlalchemy as sa

    _, assignment, _ = _dispatch(centre, crew_phone=None)
    centre.application.extensions["warroom.timers"].shutdown()
    jobs = db.session.execute(sa.text("SELECT id, next_run_time FROM apscheduler_jobs")).all()
    stored = db.session.get_one(Assignment, assignment["id"])
    assert [j.id for j in jobs] == [f"ack-{assignment['id']}"]
    assert jobs[0].next_run_time == pytest.approx(stored.assigned_at.timestamp() + 60, abs=1)
