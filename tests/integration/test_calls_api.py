"""Calls, prank and ghost flags, and the history a call-taker sees when a number calls again."""

import factories as f
from flask.testing import FlaskClient

from cad.models import Role


def _call(client: FlaskClient, headers: dict[str, str], phone: str = "0813 1111 2222") -> dict:
    response = client.post("/api/v1/calls", json={"phone": phone}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_flagged_number_shows_its_history_when_it_calls_again(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    first = _call(client, headers)
    assert first["state"] == "ringing" and first["phone"] == "+6281311112222"
    assert first["caller_history"]["calls_total"] == 1 and first["caller_history"]["earlier_calls"] == []
    client.post(f"/api/v1/calls/{first['id']}/answer", headers=headers)
    marked = client.post(
        f"/api/v1/calls/{first['id']}/disposition",
        json={"disposition": "prank", "note": "anak-anak bermain telepon"},
        headers=headers,
    )
    assert marked.status_code == 200 and marked.get_json()["disposition"] == "prank"
    client.post(f"/api/v1/calls/{first['id']}/end", headers=headers)
    second = _call(client, headers)
    client.post(f"/api/v1/calls/{second['id']}/disposition", json={"disposition": "ghost"}, headers=headers)

    third = _call(client, headers, phone="+62 813-1111-2222")
    history = third["caller_history"]
    assert history["calls_total"] == 3
    assert history["prank_flags"] == 1 and history["ghost_flags"] == 1
    assert [c["id"] for c in history["earlier_calls"]] == [second["id"], first["id"]]
    assert history["earlier_calls"][1]["disposition"] == "prank"
    assert history["earlier_calls"][1]["state"] == "ended"
    assert history["flags"][-1]["note"] == "anak-anak bermain telepon"
    by_number = client.get("/api/v1/callers/081311112222", headers=headers).get_json()
    assert by_number["calls_total"] == 3 and by_number["prank_flags"] == 1


def test_hang_up_before_answer_is_abandoned(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    call = _call(client, headers)
    ended = client.post(f"/api/v1/calls/{call['id']}/end", headers=headers).get_json()
    assert ended["state"] == "abandoned" and ended["ended_at"] is not None
    refused = client.post(f"/api/v1/calls/{call['id']}/answer", headers=headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["field"] == "state"


def test_active_calls_filter(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    ringing, done = _call(client, headers), _call(client, headers, "0811000000")
    client.post(f"/api/v1/calls/{done['id']}/end", headers=headers)
    active = client.get("/api/v1/calls?state=active", headers=headers).get_json()
    assert [c["id"] for c in active] == [ringing["id"]]


def test_incident_disposition_comes_only_from_an_incident(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    call = _call(client, headers)
    refused = client.post(f"/api/v1/calls/{call['id']}/disposition", json={"disposition": "incident"}, headers=headers)
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "disposition"


def test_unknown_number_has_no_history(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    missing = client.get("/api/v1/callers/0899999999", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["field"] == "phone"
    bad = client.get("/api/v1/callers/not-a-number", headers=headers)
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "phone"
