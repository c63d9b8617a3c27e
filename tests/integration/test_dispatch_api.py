"""Recommending, assigning, and moving a unit through an incident."""

from datetime import UTC, datetime, timedelta

import factories as f
from flask.testing import FlaskClient

from cad import clock
from cad.models import Role

T0 = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def _incident(client: FlaskClient, headers: dict[str, str], **over: object) -> dict:
    response = client.post("/api/v1/incidents", json=dict(f.INCIDENT, **over), headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_recommendations_rank_capable_available_units_and_explain_stale_ones(client: FlaskClient) -> None:
    clock.set_clock(lambda: T0)
    _, headers = f.user(Role.DISPATCHER)
    home = f.station("Pos Jauh", lat=-1.2400, lon=116.8400)
    near = f.unit("DMK-01", lat=-1.2655, lon=116.8405, home=home)
    far = f.unit("DMK-02", lat=-1.2500, lon=116.8400, home=home)
    stale = f.unit("DMK-03", lat=-1.2651, lon=116.8401, fix_age_s=3600, home=home)  # fix old: use station
    f.unit("DMK-04", lat=-1.2651, lon=116.8401, status="out_of_service")
    f.unit("HC-01", "home_care", lat=-1.2651, lon=116.8401, agency_code="homecare")
    incident = _incident(client, headers)
    body = client.get(f"/api/v1/incidents/{incident['id']}/recommendations", headers=headers).get_json()
    assert body["unit_types"] == ["fire_engine", "water_tanker", "rescue"]
    ranked = body["recommendations"]
    assert [r["callsign"] for r in ranked] == ["DMK-01", "DMK-02", "DMK-03"]
    assert ranked[0]["unit_id"] == near.id and ranked[1]["unit_id"] == far.id
    assert ranked[0]["ranked_from"] == "position" and ranked[0]["position_age_s"] == 10.0
    assert ranked[2]["unit_id"] == stale.id and ranked[2]["ranked_from"] == "station"
    assert "3600 s old" in ranked[2]["reason"]
    assert ranked[0]["eta_s"] < ranked[1]["eta_s"] < ranked[2]["eta_s"]
    assert all(r["distance_m"] > 0 and r["method"] == "geodesic" for r in ranked)


def test_a_whole_incident_from_assignment_to_close(client: FlaskClient) -> None:
    _, dispatcher = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    _, crew = f.user(Role.CREW, unit=unit)
    steps = iter(range(0, 10_000, 30))
    clock.set_clock(lambda: T0 + timedelta(seconds=next(steps)))
    incident = _incident(client, dispatcher)
    assigned = client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=dispatcher
    )
    assert assigned.status_code == 201 and assigned.get_json()["active"] is True
    for status in ("acknowledged", "en_route", "on_scene", "transporting", "at_hospital", "available"):
        moved = client.post(f"/api/v1/units/{unit.id}/status", json={"status": status}, headers=crew)
        assert moved.status_code == 200, moved.get_json()
        assert moved.get_json()["status"] == status
    closed = client.post(
        f"/api/v1/incidents/{incident['id']}/status",
        json={"status": "closed", "disposition": "selesai_ditangani"},
        headers=dispatcher,
    )
    assert closed.status_code == 200 and closed.get_json()["closed_at"] is not None
    detail = client.get(f"/api/v1/incidents/{incident['id']}", headers=dispatcher).get_json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds == [
        "incident_created",
        "unit_assigned",
        "incident_dispatched",
        "unit_notified",
        "unit_acknowledged",
        "unit_en_route",
        "unit_on_scene",
        "incident_on_scene",
        "unit_transporting",
        "unit_at_hospital",
        "unit_cleared",
        "incident_closed",
    ]
    stamps = [e["at"] for e in detail["timeline"]]
    assert stamps == sorted(stamps)
    assert all(e["actor"].startswith("user:") for e in detail["timeline"] if e["kind"] != "unit_notified")
    notified = next(e for e in detail["timeline"] if e["kind"] == "unit_notified")
    assert notified["actor"] == "system" and notified["data"] == {"stream": "sent"}  # no crew phone: no SMS
    assignment = detail["assignments"][0]
    assert assignment["active"] is False
    assert (
        assignment["acknowledged_at"] < assignment["en_route_at"] < assignment["on_scene_at"] < assignment["cleared_at"]
    )


def test_second_assignment_of_a_busy_unit_is_409(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    first, second = _incident(client, headers), _incident(client, headers)
    assert (
        client.post(
            f"/api/v1/incidents/{first['id']}/assignments", json={"unit_id": unit.id}, headers=headers
        ).status_code
        == 201
    )
    refused = client.post(f"/api/v1/incidents/{second['id']}/assignments", json={"unit_id": unit.id}, headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"] == {
        "code": "unit_unavailable",
        "field": "unit_id",
        "message": f"unit DMK-01 is assigned on {first['number']} (P{first['priority']}), not available",
    }
    assert client.get(f"/api/v1/incidents/{second['id']}", headers=headers).get_json()["status"] == "new"


def test_illegal_unit_move_is_409_and_changes_nothing(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    refused = client.post(f"/api/v1/units/{unit.id}/status", json={"status": "on_scene"}, headers=headers)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "illegal_transition" and error["field"] == "status"
    assert "available cannot become on_scene" in error["message"]
    assert client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"] == "available"


def test_withdrawing_the_only_unit_before_it_arrives_reopens_the_incident(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    incident = _incident(client, headers)
    client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=headers)
    client.post(f"/api/v1/units/{unit.id}/status", json={"status": "en_route"}, headers=headers)
    client.post(f"/api/v1/units/{unit.id}/status", json={"status": "available", "reason": "diverted"}, headers=headers)
    detail = client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()
    assert detail["status"] == "new"
    assert [e["kind"] for e in detail["timeline"]][-2:] == ["unit_cleared", "incident_new"]


def test_closing_with_a_unit_still_committed_is_refused(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    incident = _incident(client, headers)
    client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=headers)
    for status in ("en_route", "on_scene"):
        client.post(f"/api/v1/units/{unit.id}/status", json={"status": status}, headers=headers)
    refused = client.post(
        f"/api/v1/incidents/{incident['id']}/status",
        json={"status": "closed", "disposition": "selesai_ditangani"},
        headers=headers,
    )
    assert refused.status_code == 409 and "1 unit(s) still committed" in refused.get_json()["error"]["message"]


def test_crew_moves_only_their_own_unit(client: FlaskClient) -> None:
    mine, other = f.unit("DMK-01"), f.unit("DMK-02")
    _, crew = f.user(Role.CREW, unit=mine)
    assert (
        client.post(f"/api/v1/units/{mine.id}/status", json={"status": "out_of_service"}, headers=crew).status_code
        == 200
    )
    refused = client.post(f"/api/v1/units/{other.id}/status", json={"status": "out_of_service"}, headers=crew)
    assert refused.status_code == 403 and refused.get_json()["error"]["field"] == "unit_id"


def test_units_list_shows_position_age_station_and_incident(client: FlaskClient) -> None:
    clock.set_clock(lambda: T0)
    _, headers = f.user(Role.MANAGER)
    _, dispatcher = f.user(Role.DISPATCHER)
    home = f.station()
    unit = f.unit("DMK-01", home=home, fix_age_s=42)
    f.unit("POL-01", "police", agency_code="polisi", lat=None, lon=None, fix_age_s=None)
    incident = _incident(client, dispatcher)
    client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=dispatcher)
    listed = {u["callsign"]: u for u in client.get("/api/v1/units", headers=headers).get_json()}
    dmk = listed["DMK-01"]
    assert dmk["status"] == "assigned" and dmk["incident_id"] == incident["id"]
    assert dmk["position_age_s"] == 42.0 and dmk["position"]["at"] == "2026-11-24T02:59:18Z"
    assert dmk["station"]["name"] == "Pos Pusat" and dmk["agency"] == "damkar"
    assert listed["POL-01"]["position"] is None and listed["POL-01"]["position_age_s"] is None
    only_police = client.get("/api/v1/units?type=police", headers=headers).get_json()
    assert [u["callsign"] for u in only_police] == ["POL-01"]


def test_a_big_fire_proposes_its_run_card_and_the_dispatcher_sends_it_in_one_action(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    for i, offset in enumerate((0.001, 0.002, 0.003)):
        f.unit(f"DMK-0{i + 1}", lat=-1.2650 + offset, lon=116.8400)
    f.unit("TNK-01", "water_tanker", lat=-1.2660, lon=116.8400)
    f.unit("TNK-02", "water_tanker", lat=-1.2900, lon=116.8400)
    incident = _incident(client, headers, priority=1)
    body = client.get(f"/api/v1/incidents/{incident['id']}/recommendations", headers=headers).get_json()
    card = body["run_card"]
    assert card["name"] == "kebakaran_besar" and card["complete"] is True
    engines, tanker = card["slots"]
    assert engines["role"] == "pemadam" and engines["count"] == 2 and len(engines["proposed"]) == 2
    assert [c["callsign"] for c in engines["candidates"]] == ["DMK-01", "DMK-02", "DMK-03"]
    assert [c["callsign"] for c in tanker["candidates"]] == ["TNK-01", "TNK-02"]
    proposed = engines["proposed"] + tanker["proposed"]
    sent = client.post(f"/api/v1/incidents/{incident['id']}/dispatch", json={"unit_ids": proposed}, headers=headers)
    assert sent.status_code == 201, sent.get_json()
    assert sorted(a["unit_id"] for a in sent.get_json()["assignments"]) == sorted(proposed)
    detail = client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()
    assert detail["status"] == "dispatched"
    assert [e["kind"] for e in detail["timeline"]].count("unit_assigned") == 3


def test_sending_a_run_card_is_all_or_nothing(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    free, busy = f.unit("DMK-01"), f.unit("DMK-02", status="out_of_service")
    incident = _incident(client, headers)
    refused = client.post(
        f"/api/v1/incidents/{incident['id']}/dispatch", json={"unit_ids": [free.id, busy.id]}, headers=headers
    )
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["field"] == "unit_ids" and "DMK-02 is out_of_service" in error["message"]
    assert client.get(f"/api/v1/units/{free.id}", headers=headers).get_json()["status"] == "available"
    twice = client.post(
        f"/api/v1/incidents/{incident['id']}/dispatch", json={"unit_ids": [free.id, free.id]}, headers=headers
    )
    assert twice.status_code == 400 and twice.get_json()["error"]["field"] == "unit_ids"


def test_a_road_accident_needs_police_and_an_ambulance(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    f.unit("POL-01", "police", agency_code="polisi")
    f.unit("AMB-01", "ambulance", agency_code="ambulans")
    incident = _incident(client, headers, type="kecelakaan", priority=2)
    card = client.get(f"/api/v1/incidents/{incident['id']}/recommendations", headers=headers).get_json()["run_card"]
    assert card["name"] == "kecelakaan"
    assert [(s["role"], len(s["proposed"])) for s in card["slots"]] == [("polisi", 1), ("ambulans", 1)]
