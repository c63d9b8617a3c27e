"""Incidents through the API: numbering, callers, calls, detail with its timeline."""

from datetime import UTC, datetime, timedelta

import factories as f
from flask.testing import FlaskClient

from cad import clock
from cad.models import Role


def test_create_incident_numbers_by_local_day_and_records_the_creation(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    # 23:30 UTC on 21 Nov is 07:30 WITA on 22 Nov: the number follows the centre's day
    clock.set_clock(lambda: datetime(2026, 11, 21, 23, 30, tzinfo=UTC))
    first = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers)
    second = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers)
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["number"] == "MKS-20261122-0001"
    assert second.get_json()["number"] == "MKS-20261122-0002"
    assert body["status"] == "new" and body["type"] == "kebakaran" and body["priority"] == 1
    assert body["location"] == {"lat": -1.265, "lon": 116.84, "accuracy_m": 15.0, "source": "manual"}
    assert body["created_at"] == "2026-11-21T23:30:00Z"
    clock.set_clock(lambda: datetime(2026, 11, 22, 16, 1, tzinfo=UTC))  # 00:01 WITA on the 23rd
    assert (
        client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()["number"] == "MKS-20261123-0001"
    )

    detail = client.get(f"/api/v1/incidents/{body['id']}", headers=headers).get_json()
    assert [e["kind"] for e in detail["timeline"]] == ["incident_created"]
    event = detail["timeline"][0]
    assert event["at"] == "2026-11-21T23:30:00Z"
    assert event["actor"].startswith("user:") and event["data"]["number"] == "MKS-20261122-0001"


def test_caller_phone_is_normalised_and_shown(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    body = dict(f.INCIDENT, caller_phone="0812-3456-7890", caller_name="Ibu Rahma")
    created = client.post("/api/v1/incidents", json=body, headers=headers).get_json()
    assert created["caller"] == {"phone": "+6281234567890", "name": "Ibu Rahma"}


def test_incident_from_a_call_starts_its_timeline_with_the_call(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    t0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    clock.set_clock(lambda: t0)
    call = client.post(
        "/api/v1/calls",
        headers=headers,
        json={
            "phone": "081299990000",
            "location": {"lat": -1.2661, "lon": 116.8412, "accuracy_m": 30, "source": "aml"},
        },
    ).get_json()
    clock.set_clock(lambda: t0 + timedelta(seconds=7))
    assert client.post(f"/api/v1/calls/{call['id']}/answer", headers=headers).status_code == 200
    clock.set_clock(lambda: t0 + timedelta(seconds=50))
    created = client.post(
        "/api/v1/incidents", headers=headers, json={"type": "medis", "priority": 2, "call_id": call["id"]}
    )
    assert created.status_code == 201, created.get_json()
    incident = created.get_json()
    assert incident["location"]["source"] == "aml" and incident["caller"]["phone"] == "+6281299990000"
    timeline = client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()["timeline"]
    assert [(e["kind"], e["at"]) for e in timeline] == [
        ("call_received", "2026-11-24T01:00:00Z"),
        ("call_answered", "2026-11-24T01:00:07Z"),
        ("call_linked", "2026-11-24T01:00:50Z"),
        ("incident_created", "2026-11-24T01:00:50Z"),
    ]
    again = client.post(
        "/api/v1/incidents", headers=headers, json={"type": "medis", "priority": 2, "call_id": call["id"]}
    )
    assert again.status_code == 409 and again.get_json()["error"]["field"] == "call_id"
    linked = client.get(f"/api/v1/calls/{call['id']}", headers=headers).get_json()
    assert linked["incident_id"] == incident["id"] and linked["disposition"] == "incident"


def test_list_filters_by_status_and_orders_by_priority(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    for priority in (3, 1, 2):
        client.post("/api/v1/incidents", json=dict(f.INCIDENT, priority=priority), headers=headers)
    listed = client.get("/api/v1/incidents?status=open", headers=headers).get_json()
    assert [i["priority"] for i in listed] == [1, 2, 3]
    assert client.get("/api/v1/incidents?status=closed", headers=headers).get_json() == []


def test_cancel_releases_units_and_is_final(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    unit = f.unit("DMK-01")
    incident = client.post("/api/v1/incidents", json=f.INCIDENT, headers=headers).get_json()
    client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit.id}, headers=headers)
    cancelled = client.post(
        f"/api/v1/incidents/{incident['id']}/status",
        json={"status": "cancelled", "reason": "laporan palsu"},
        headers=headers,
    )
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.get(f"/api/v1/units/{unit.id}", headers=headers).get_json()["status"] == "available"
    again = client.post(
        f"/api/v1/incidents/{incident['id']}/status",
        json={"status": "closed", "disposition": "selesai_ditangani"},
        headers=headers,
    )
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "illegal_transition"
    timeline = client.get(f"/api/v1/incidents/{incident['id']}", headers=headers).get_json()["timeline"]
    assert [e["kind"] for e in timeline[-2:]] == ["unit_released", "incident_cancelled"]  # it never got there
    assert timeline[-2]["data"]["reason"] == "laporan palsu" and timeline[-2]["unit_id"] == unit.id


def test_listing_costs_a_few_queries_however_many_incidents(client: FlaskClient) -> None:
    import sqlalchemy as sa

    from cad.db import db

    _, headers = f.user(Role.DISPATCHER)
    for i in range(15):
        unit = f.unit(f"DMK-{i:02d}")
        created = client.post(
            "/api/v1/incidents", json=dict(f.INCIDENT, caller_phone=f"08123456{i:04d}"), headers=headers
        ).get_json()
        client.post(f"/api/v1/incidents/{created['id']}/assignments", json={"unit_id": unit.id}, headers=headers)
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        listed = client.get("/api/v1/incidents?limit=50", headers=headers).get_json()
        calls = client.get("/api/v1/calls?limit=50", headers=headers)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert len(listed) == 15 and all(i["assignments"][0]["incident_number"] == i["number"] for i in listed)
    assert calls.status_code == 200
    assert len(statements) <= 12, statements
