"""JSON API v1: thin views — parse, call one service function, render."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

from cad.api import alerts, audit, calls, consoles, coverage, incidents, linking, maps, meta, reports, roads, units  # noqa: E402,F401  (they register on `api`)
