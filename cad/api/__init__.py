"""JSON API v1: thin views — parse, call one service function, render."""

from flask import Blueprint

api = Blueprint("api", __name__, url_prefix="/api/v1")

from cad.api import alerts, calls, consoles, coverage, crew, incidents, meta, reports, roads, units  # noqa: E402,F401  (they register on `api`)
