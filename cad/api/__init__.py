"""JSON API v1 (`/api/v1/…`): thin views — parse, call one service function, render.

Each area's module puts its routes on the one `api` blueprint (one URL prefix, one `api.` endpoint
namespace for the OpenAPI document); `api_blueprint()` imports them all for the app factory."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")


def api_blueprint() -> Blueprint:
    """`api` with every area's routes on it: incidents, calls, units, alerts, the consoles' look-ups,
    coverage, roads, reports, and the API's own description, health and event stream (meta)."""
    from cad.api import alerts, calls, consoles, coverage, crew, incidents, meta, reports, roads, units  # noqa: F401

    return api
