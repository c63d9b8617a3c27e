"""The API's own description, health, and the live event stream."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, jsonify, stream_with_context
from sqlalchemy import text

from cad.api import api
from cad.api.spec import openapi_document, operation
from cad.db import db
from cad.events import Change, bus
from cad.models import Role, User


@api.get("/openapi.json")
def openapi() -> Response:
    """Generated from the registered operations and their pydantic models (no auth)."""
    return jsonify(openapi_document(current_app))


@api.get("/health")
def health() -> Response:
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "database": db.engine.dialect.name})


def only_unit(unit_id: int | None) -> Callable[[Change], bool]:
    """What a crew may hear: changes of its own unit, never another unit's job."""

    def accept(change: Change) -> bool:
        data = change.data
        return unit_id is not None and (
            data.get("unit_id") == unit_id or (change.kind == "unit" and data.get("id") == unit_id)
        )

    return accept


@operation(api, "/events", "GET", summary="Server-Sent Events: every change a console needs")
def events(user: User) -> Response:
    accept = None
    if user.role is Role.CREW:  # a crew hears only of its own unit, never of other units' jobs
        own = user.unit_id

        def accept(change: Change) -> bool:
            data = change.data
            return own is not None and (data.get("unit_id") == own or (change.kind == "unit" and data.get("id") == own))

    return Response(
        stream_with_context(bus.stream(accept=accept)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
