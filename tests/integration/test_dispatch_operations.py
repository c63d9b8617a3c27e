"""What a shift does many times an hour: correct an incident, close it with its outcome, merge a
duplicate, take a unit back, take a unit for a more urgent incident, a crew saying it cannot
go. Each through the API on both databases, each on the timeline with who and when."""

from __future__ import annotations

from typing import Any

import factories as f
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from cad.db import db
from cad.models import LiveEvent, Role


def _incident(client: FlaskClient, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    made = client.post("/api/v1/incidents", json={**f.INCIDENT, **changes}, headers=headers)
    assert made.status_code == 201, made.get_json()
    return dict(made.get_json())


def _get(client: FlaskClient, headers: dict[str, str], incident: dict[str, Any]) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json())


def _assign(client: FlaskClient, headers: dict[str, str], incident: dict[str, Any], unit_id: int, **extra: Any) -> Any:
    return client.post(
        f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit_id, **extra}, headers=headers
    )


def _events(kind: str) -> list[dict[str, Any]]:
    """What the live streams were handed: the `live_events` rows of `kind`."""
    table = LiveEvent.__table__
    with db.engine.connect() as conn:
        return [
            dict(d) for (d,) in conn.execute(sa.select(table.c.data).where(table.c.kind == kind).order_by(table.c.id))
        ]


def _error(response: Any) -> dict[str, Any]:
    return dict(response.get_json()["error"])


# -- editing ---------------------------------------------------------------------------------


def test_a_call_taker_triages_an_sms_incident_and_every_change_is_on_the_timeline(client: FlaskClient) -> None:
    _taker, headers = f.user(Role.CALL_TAKER, "Sari")
    _, dispatcher = f.user(Role.DISPATCHER)
    f.unit("DMK-01")
    f.unit("HC-01", "home_care")
    sms = _incident(client, headers, type="lainnya", priority=3, description="tolong ada asap")
    before = client.get(f"/api/v1/incidents/{sms['id']}/recommendations", headers=dispatcher).get_json()
    edited = client.patch(
        f"/api/v1/incidents/{sms['id']}",
        json={"type": "kebakaran", "priority": 1, "description": "Gudang terbakar", "version": sms["version"]},
        headers=headers,
    )
    assert edited.status_code == 200, edited.get_json()
    body = edited.get_json()
    assert (body["type"], body["priority"], body["description"]) == ("kebakaran", 1, "Gudang terbakar")
    assert body["version"] > sms["version"]
    [updated] = [e for e in _get(client, headers, sms)["timeline"] if e["kind"] == "incident_updated"]
    assert updated["actor"] == "user:Sari"
    assert updated["data"]["changes"] == {
        "type": ["lainnya", "kebakaran"],
        "priority": [3, 1],
        "description": ["tolong ada asap", "Gudang terbakar"],
    }
    # the run card is filled again for a P1 fire: a fire engine first, no home care
    after = client.get(f"/api/v1/incidents/{sms['id']}/recommendations", headers=dispatcher).get_json()
    assert after["run_card"]["name"] != before["run_card"]["name"]
    assert [r["callsign"] for r in after["recommendations"]] == ["DMK-01"]
    # every console hears it
    assert any(
        e["id"] == sms["id"] and e.get("changed") == ["description", "priority", "type"] for e in _events("incident")
    )


def test_a_new_location_moves_the_incident_and_its_district(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    incident = _incident(client, headers)
    moved = client.patch(
        f"/api/v1/incidents/{incident['id']}",
        json={"location": {"lat": -1.2700, "lon": 116.8300, "source": "manual"}, "address": "Jl. Ahmad Yani 3"},
        headers=headers,
    ).get_json()
    assert moved["location"]["lat"] == -1.27 and moved["address"] == "Jl. Ahmad Yani 3"
    changes = next(e for e in _get(client, headers, incident)["timeline"] if e["kind"] == "incident_updated")["data"]
    assert changes["changes"]["location"] == [{"lat": -1.265, "lon": 116.84}, {"lat": -1.27, "lon": 116.83}]
    assert changes["changes"]["address"] == ["Jl. Jenderal Sudirman No. 1", "Jl. Ahmad Yani 3"]


def test_an_edit_made_on_a_stale_copy_is_refused_and_changes_nothing(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    incident = _incident(client, headers)
    first = client.patch(
        f"/api/v1/incidents/{incident['id']}", json={"priority": 2, "version": incident["version"]}, headers=headers
    )
    assert first.status_code == 200
    second = client.patch(
        f"/api/v1/incidents/{incident['id']}", json={"priority": 3, "version": incident["version"]}, headers=headers
    )
    assert second.status_code == 409 and _error(second)["field"] == "version"
    assert _get(client, headers, incident)["priority"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"version": 0}, None),
        ({"priority": 0}, "priority"),
        ({"priority": "1"}, "priority"),
        ({"type": "gempa"}, "type"),
        ({"type": None}, "type"),
        ({"location": None}, "location"),
        ({"location": {"lat": 91, "lon": 0}}, "location.lat"),
        ({"number": "X-1"}, "number"),
        ({"status": "closed"}, "status"),
        ({"caller_phone": "not a phone"}, "caller_phone"),
        ({"description": "x" * 4001}, "description"),
    ],
)
def test_a_bad_edit_is_a_400_naming_the_field_and_changes_nothing(
    client: FlaskClient, body: dict[str, Any], field: str | None
) -> None:
    _, headers = f.user(Role.DISPATCHER)
    incident = _incident(client, headers)
    refused = client.patch(f"/api/v1/incidents/{incident['id']}", json=body, headers=headers)
    assert refused.status_code == 400, refused.get_json()
    if field is not None:
        assert _error(refused)["field"] == field
    after = _get(client, headers, incident)
    assert after["version"] == incident["version"] and after["priority"] == 1
    assert not [e for e in after["timeline"] if e["kind"] == "incident_updated"]


def test_who_may_edit_and_what(client: FlaskClient) -> None:
    _, dispatcher = f.user(Role.DISPATCHER)
    _, manager = f.user(Role.MANAGER)
    incident = _incident(client, dispatcher)
    assert client.patch(f"/api/v1/incidents/{incident['id']}", json={"priority": 2}, headers=manager).status_code == 403
    assert client.patch("/api/v1/incidents/999999", json={"priority": 2}, headers=dispatcher).status_code == 404
    same = client.patch(f"/api/v1/incidents/{incident['id']}", json={"priority": 1}, headers=dispatcher)
    assert same.status_code == 200 and same.get_json()["version"] == incident["version"]  # nothing changed
    client.post(f"/api/v1/incidents/{incident['id']}/status", json={"status": "cancelled"}, headers=dispatcher)
    closed = client.patch(f"/api/v1/incidents/{incident['id']}", json={"priority": 2}, headers=dispatcher)
    assert closed.status_code == 409 and _error(closed)["field"] == "status"


# -- closing -------------------------------------------------------------------------------


def test_closing_asks_how_it_ended_and_a_stuck_incident_closes_with_its_units_released(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    incident = _incident(client, headers)
    assert _assign(client, headers, incident, unit.id).status_code == 201  # never acknowledged
    path = f"/api/v1/incidents/{incident['id']}/status"
    no_outcome = client.post(path, json={"status": "closed"}, headers=headers)
    assert no_outcome.status_code == 400 and "disposition" in _error(no_outcome)["message"]
    bogus = client.post(path, json={"status": "closed", "disposition": "beres"}, headers=headers)
    assert bogus.status_code == 400 and _error(bogus)["field"] == "disposition"
    committed = client.post(path, json={"status": "closed", "disposition": "tidak_ditemukan"}, headers=headers)
    assert committed.status_code == 409 and "still committed" in _error(committed)["message"]
    closed = client.post(
        path,
        json={
            "status": "closed",
            "disposition": "tidak_ditemukan",
            "release_units": True,
            "reason": "penelepon: sudah padam",
        },
        headers=headers,
    )
    assert closed.status_code == 200, closed.get_json()
    assert (closed.get_json()["status"], closed.get_json()["disposition"]) == ("closed", "tidak_ditemukan")
    assert client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"] == "available"
    timeline = _get(client, headers, incident)["timeline"]
    assert [e["kind"] for e in timeline[-2:]] == ["unit_released", "incident_closed"]
    assert timeline[-1]["data"] == {
        "disposition": "tidak_ditemukan",
        "reason": "penelepon: sudah padam",
        "released": [unit.id],
    }
    assert not [a for a in _get(client, headers, incident)["assignments"] if a["active"]]


# -- merging a duplicate ----------------------------------------------------------------------


def test_a_duplicate_merges_into_its_incident_with_its_calls_units_and_timeline(client: FlaskClient) -> None:
    _, taker = f.user(Role.CALL_TAKER)
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("HC-01", "home_care")
    first = _incident(client, headers)
    call = client.post("/api/v1/calls", json={"phone": "081234567890"}, headers=taker).get_json()
    second = _incident(client, taker, type="medis", priority=2, call_id=call["id"])
    assert _assign(client, headers, second, unit.id).status_code == 201
    merged = client.post(f"/api/v1/incidents/{second['id']}/merge", json={"into": first["id"]}, headers=headers)
    assert merged.status_code == 200, merged.get_json()
    lives_on = _get(client, headers, first)
    assert lives_on["status"] == "dispatched"
    assert [(a["unit_id"], a["active"]) for a in lives_on["assignments"]] == [(unit.id, True)]
    assert client.get(f"/api/v1/calls/{call['id']}", headers=taker).get_json()["incident_id"] == first["id"]
    kinds = {(e["incident_id"], e["kind"]) for e in lives_on["timeline"]}
    assert {
        (second["id"], "call_received"),
        (second["id"], "unit_assigned"),
        (first["id"], "duplicate_merged"),
    } <= kinds
    gone = _get(client, headers, second)
    assert (gone["status"], gone["disposition"], gone["merged_into_id"]) == ("closed", "ganda", first["id"])
    # the unit's job is now the incident that lives on
    assert client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["incident_id"] == first["id"]


def test_a_merge_that_makes_no_sense_is_refused(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    a, b = _incident(client, headers), _incident(client, headers)
    path = f"/api/v1/incidents/{a['id']}/merge"
    assert _error(client.post(path, json={"into": a["id"]}, headers=headers))["field"] == "into"
    assert client.post(path, json={"into": 999999}, headers=headers).status_code == 404
    assert _error(client.post(path, json={"into": "2"}, headers=headers))["field"] == "into"
    client.post(f"/api/v1/incidents/{b['id']}/status", json={"status": "cancelled"}, headers=headers)
    refused = client.post(path, json={"into": b["id"]}, headers=headers)
    assert refused.status_code == 409 and _error(refused)["field"] == "into"
    assert _get(client, headers, a)["status"] == "new"


# -- releasing a unit ----------------------------------------------------------------------


def test_a_dispatcher_takes_a_unit_back_and_the_incident_returns_to_the_queue(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER, "Budi")
    unit = f.unit("DMK-01")
    _crew, crew_headers = f.user(Role.CREW, unit=unit)
    incident = _incident(client, headers)
    _assign(client, headers, incident, unit.id)
    client.post(f"/api/v1/units/{unit.id}/status", json={"status": "en_route"}, headers=crew_headers)
    path = f"/api/v1/incidents/{incident['id']}/assignments/{unit.id}/release"
    assert _error(client.post(path, json={}, headers=headers))["field"] == "reason"
    assert _error(client.post(path, json={"reason": ""}, headers=headers))["field"] == "reason"
    assert client.post(path, json={"reason": "x"}, headers=crew_headers).status_code == 403
    released = client.post(path, json={"reason": "unit salah", "return_to_station": True}, headers=headers)
    assert released.status_code == 200, released.get_json()
    assert released.get_json()["status"] == "new"
    assert client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"] == "available"
    timeline = _get(client, headers, incident)["timeline"]
    [event] = [e for e in timeline if e["kind"] == "unit_released"]
    assert event["actor"] == "user:Budi" and event["data"]["reason"] == "unit salah"
    assert event["data"]["return_to_station"] is True and event["data"]["from"] == "en_route"
    assert timeline[-1]["kind"] == "incident_new"
    # the crew's phone hears it: its assignment ended, its unit is available
    ended = [e for e in _events("assignment") if e.get("active") is False]
    assert ended and ended[-1]["unit_id"] == unit.id and ended[-1]["reason"] == "unit salah"
    assert client.get("/api/v1/crew/job", headers=crew_headers).get_json()["incident"] is None
    again = client.post(path, json={"reason": "lagi"}, headers=headers)
    assert again.status_code == 409 and _error(again)["field"] == "unit_id"


# -- pre-emption -------------------------------------------------------------------------


def test_a_unit_on_its_way_to_a_p3_is_taken_for_a_p1_only_when_the_dispatcher_confirms(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    lower = _incident(client, headers, priority=3, description="pohon tumbang")
    higher = _incident(client, headers, priority=1)
    _assign(client, headers, lower, unit.id)
    plain = _assign(client, headers, higher, unit.id)
    assert plain.status_code == 409 and f"on {lower['number']} (P3)" in _error(plain)["message"]
    offered = client.get(f"/api/v1/incidents/{higher['id']}/preemptable", headers=headers).get_json()
    assert [(p["callsign"], p["incident_number"], p["incident_priority"]) for p in offered] == [
        ("DMK-01", lower["number"], 3)
    ]
    taken = _assign(client, headers, higher, unit.id, preempt=True)
    assert taken.status_code == 201, taken.get_json()
    back = _get(client, headers, lower)
    assert back["status"] == "new" and not [a for a in back["assignments"] if a["active"]]
    [lost] = [e for e in back["timeline"] if e["kind"] == "unit_preempted"]
    assert lost["data"]["to_incident"] == higher["number"] and lost["unit_id"] == unit.id
    gained = _get(client, headers, higher)
    assigned = [e for e in gained["timeline"] if e["kind"] == "unit_assigned"]
    assert assigned[-1]["data"]["preempted_from"] == lower["number"]
    assert client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"] == "assigned"


def test_a_unit_is_never_taken_for_a_less_urgent_incident_nor_from_the_scene(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    busy, working = f.unit("DMK-01"), f.unit("DMK-02")
    _, crew = f.user(Role.CREW, unit=working)
    p1, p3, other_p1 = (_incident(client, headers, priority=p) for p in (1, 3, 1))
    _assign(client, headers, p1, busy.id)
    _assign(client, headers, p3, working.id)
    for status in ("en_route", "on_scene"):
        client.post(f"/api/v1/units/{working.id}/status", json={"status": status}, headers=crew)
    down = _assign(client, headers, p3, busy.id, preempt=True)
    assert down.status_code == 409 and "more urgent" in _error(down)["message"]
    from_scene = _assign(client, headers, other_p1, working.id, preempt=True)
    assert from_scene.status_code == 409 and "on_scene" in _error(from_scene)["message"]
    assert _get(client, headers, p1)["assignments"][0]["active"] is True


# -- a crew that cannot go -------------------------------------------------------------------


def test_a_crew_that_cannot_go_leaves_the_job_and_dispatchers_get_the_next_unit(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    broken, spare = f.unit("DMK-01"), f.unit("DMK-02", lat=-1.2600, lon=116.8500)
    _, crew = f.user(Role.CREW, unit=broken)
    _, other_crew = f.user(Role.CREW, unit=spare)
    incident = _incident(client, headers)
    _assign(client, headers, incident, broken.id)
    path = f"/api/v1/units/{broken.id}/decline"
    assert _error(client.post(path, json={"reason": "malas"}, headers=crew))["field"] == "reason"
    assert client.post(path, json={"reason": "rusak"}, headers=other_crew).status_code == 403
    declined = client.post(path, json={"reason": "rusak", "note": "ban pecah"}, headers=crew)
    assert declined.status_code == 200, declined.get_json()
    alert = declined.get_json()
    assert (alert["kind"], alert["reason"], alert["unit_status"]) == ("declined", "rusak", "out_of_service")
    assert (alert["next_unit_id"], alert["next_callsign"]) == (spare.id, "DMK-02") and alert["next_eta_s"] > 0
    assert _events("alert")[-1] == alert  # every dispatcher hears it at once
    after = _get(client, headers, incident)
    assert after["status"] == "new"
    [event] = [e for e in after["timeline"] if e["kind"] == "unit_declined"]
    assert event["data"]["reason"] == "rusak" and event["data"]["note"] == "ban pecah" and event["data"]["by"] == "crew"
    assert client.get(f"/api/v1/units/{broken.id}", headers=headers).get_json()["status"] == "out_of_service"
    again = client.post(path, json={"reason": "rusak"}, headers=crew)
    assert again.status_code == 409 and _error(again)["field"] == "unit_id"


def test_a_crew_busy_elsewhere_for_a_job_of_its_own_is_not_offered_back(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    _, crew = f.user(Role.CREW, unit=unit)
    incident = _incident(client, headers)
    _assign(client, headers, incident, unit.id)
    alert = client.post(f"/api/v1/units/{unit.id}/decline", json={"reason": "lainnya"}, headers=crew).get_json()
    assert alert["unit_status"] == "available" and alert["next_unit_id"] is None  # not the unit that said no
