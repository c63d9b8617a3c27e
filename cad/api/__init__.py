"""JSON API v1 (`/api/v1/…`): thin views — parse, call one service function, render.

Each area's module puts its routes on the one `api` blueprint (one URL prefix, one `api.` endpoint
namespace for the OpenAPI document); `api_blueprint()` imports them all for the app factory."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")


def api_blueprint() -> Blueprint:
    """`api` with every area's routes on it: incidents, calls, linking a call, units, the crew's job, alerts,
    the map's roads and address search (maps), roads, coverage, reports, the audit log, and the API's own
    description, health and event stream (meta)."""
    from cad.api import alerts, audit, calls, coverage, crew, incidents, linking, maps, meta, reports, roads, units  # noqa: F401

    return api
