"""The API's own description, health, and the live event stream."""

from __future__ import annotations

from flask import Response, current_app, jsonify, stream_with_context
from sqlalchemy import text

from cad.api import api
from cad.api.spec import openapi_document, operation
from cad.db import db
from cad.events import bus
from cad.models import User


@api.get("/openapi.json")
def openapi() -> Response:
    """Generated from the registered operations and their pydantic models (no auth)."""
    return jsonify(openapi_document(current_app))


@api.get("/health")
def health() -> Response:
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "database": db.engine.dialect.name})


@operation(api, "/events", "GET", summary="Server-Sent Events: every change a console needs")
def events(user: User) -> Response:
    return Response(
        stream_with_context(bus.stream()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
