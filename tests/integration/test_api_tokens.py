"""The bearer token check every API request passes: who it lets in, and that a change to a user
or their token counts at the very next request (nothing is cached)."""

from __future__ import annotations

import factories as f
from flask.testing import FlaskClient
from sqlalchemy import select

from cad.db import db
from cad.models import AuditEntry, Incident, Role, TimelineEvent
from cad.services.tokens import rotate_api_token


def test_a_user_made_inactive_is_refused_at_the_next_request(client: FlaskClient) -> None:
    user, headers = f.user(Role.DISPATCHER, "gita")
    assert client.get("/api/v1/incidents", headers=headers).status_code == 200
    user.active = False
    db.session.flush()
    refused = client.get("/api/v1/incidents", headers=headers)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["field"] == "Authorization"


def test_a_rotated_token_replaces_the_old_one_at_once(client: FlaskClient) -> None:
    _, old = f.user(Role.DISPATCHER, "hana")
    assert client.get("/api/v1/incidents", headers=old).status_code == 200
    secret = rotate_api_token(db.session, "hana")
    assert client.get("/api/v1/incidents", headers=old).status_code == 401
    assert client.get("/api/v1/incidents", headers={"Authorization": f"Bearer {secret}"}).status_code == 200


def test_the_token_holders_role_decides_and_their_name_is_on_the_record(client: FlaskClient) -> None:
    _, crew_headers = f.user(Role.CREW, "indra")
    assert client.get("/api/v1/audit", headers=crew_headers).status_code == 403
    user, headers = f.user(Role.CALL_TAKER, "joko")
    created = client.post(
        "/api/v1/incidents", json={"type": "medis", "priority": 2, "address": "Gang Mawar"}, headers=headers
    )
    assert created.status_code == 201
    incident = db.session.get(Incident, created.get_json()["id"])
    assert incident is not None and incident.created_by_id == user.id
    actors = db.session.scalars(select(TimelineEvent.actor).where(TimelineEvent.incident_id == incident.id))
    assert "user:joko" in set(actors)
    entry = db.session.query(AuditEntry).filter_by(action="POST api.create_incident").one()
    assert (entry.user_id, entry.username) == (user.id, "joko")
