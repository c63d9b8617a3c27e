"""The API's own description, health, and the live event stream."""

from __future__ import annotations

from flask import Response, current_app, jsonify, request
from sqlalchemy import text

from cad.api import api
from cad.api.spec import openapi_document, operation
from cad.db import db
from cad.domain.actors import Person
from cad.events import Audience
from cad.models import Role


@api.get("/openapi.json")
def openapi() -> Response:
    """Generated from the registered operations and their pydantic models (no auth)."""
    return jsonify(openapi_document(current_app))


@api.get("/health")
def health() -> Response:
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "database": db.engine.dialect.name})


@operation(api, "/events", "GET", summary="Server-Sent Events: every change a console needs")
def events(user: Person) -> Response:
    """Each event has `id:` (the same on every node); a browser that reconnects with
    `Last-Event-ID` gets what it missed. A crew hears only of its own unit."""
    audience = Audience(crew=user.role is Role.CREW, unit_id=user.unit_id)
    after = request.headers.get("Last-Event-ID", "").strip()
    last_event_id = int(after) if after.isdigit() and len(after) < 19 else None
    # The stream needs no request context: the user's database connection goes back to the
    # pool now, not when the stream ends hours later (one per open console would drain it).
    db.session.remove()
    return Response(
        current_app.extensions["warroom.bus"].stream(audience, last_event_id),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
