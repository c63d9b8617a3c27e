"""Domain errors of the spine and the one JSON error shape they become.

`{"error": {"code": "...", "message": "...", "field": "..."}}` for every 4xx and 5xx
under /api/ and the other machine-facing endpoints.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from cad.domain.calls import IllegalCallTransition
from cad.domain.incidents import IllegalIncidentTransition
from dispatch.units import IllegalUnitTransition

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status, a stable code, and the field it is about."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, field: str | None = None, *, code: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code
        if status:
            self.status = status


class InvalidInput(ApiError):
    status, code = 400, "invalid"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class DatabaseUnavailable(ApiError):
    """Raised where a database failure reached us indirectly (another thread wrote for us)."""

    status, code = 503, "database_unavailable"


class UnitUnavailable(Conflict):
    code = "unit_unavailable"


#: Named errors of the pure packages and the status they answer with.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str, str | None]] = {
    IllegalUnitTransition: (409, "illegal_transition", "status"),
    IllegalIncidentTransition: (409, "illegal_transition", "status"),
    IllegalCallTransition: (409, "illegal_transition", "state"),
}


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify(error_body(code, message, field))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="warroom"'
    return response


def api_error_response(error: ApiError) -> Response:
    response = error_response(error.status, error.code, error.message, error.field)
    if isinstance(error, DatabaseUnavailable):
        response.headers["Retry-After"] = "2"
    return response


def database_down_response(error: DBAPIError, method: str, path: str) -> Response:
    log.error("database unavailable on %s %s: %s", method, path, error.orig)
    response = error_response(
        503, "database_unavailable", "the database is not reachable; nothing was stored, retry shortly"
    )
    response.headers["Retry-After"] = "2"
    return response


def database_busy_response(error: PoolTimeout, method: str, path: str) -> Response:
    # every pooled connection busy for 30 s (a surge on a gevent worker, hundreds of requests at
    # once): the request did nothing; the client is told to come back, as for an outage
    log.error("no database connection free on %s %s: %s", method, path, error)
    response = error_response(503, "database_busy", "the database is busy; nothing was stored, retry shortly")
    response.headers["Retry-After"] = "2"
    return response


def http_error_response(error: HTTPException) -> Response:
    code = (error.name or "error").lower().replace(" ", "_")
    return error_response(error.code or 500, code, error.description or error.name)


def unexpected_error_response(method: str, path: str) -> Response:
    """500 for a bug, logged with the exception being handled."""
    log.exception("unhandled error on %s %s", method, path)
    return error_response(500, "internal_error", "internal error; it has been logged")


def error_answer(error: Exception, method: str, path: str) -> Response:
    """What the handlers below answer to `error` on a machine-facing path (JSON), for code that
    answers outside Flask's request handling (the lean GPS path, cad/api/gps_wsgi.py)."""
    if isinstance(error, ApiError):
        return api_error_response(error)
    for exc_type, (status, code, field) in DOMAIN_ERRORS.items():
        if isinstance(error, exc_type):
            return error_response(status, code, str(error), field)
    if isinstance(error, OperationalError | InterfaceError):
        return database_down_response(error, method, path)
    if isinstance(error, PoolTimeout):
        return database_busy_response(error, method, path)
    if isinstance(error, HTTPException):
        return http_error_response(error)
    return unexpected_error_response(method, path)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, api_error_response)

    for exc_type, (status, code, field) in DOMAIN_ERRORS.items():

        def _domain(error: Exception, status: int = status, code: str = code, field: str | None = field) -> Response:
            return error_response(status, code, str(error), field)

        app.register_error_handler(exc_type, _domain)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(error: DBAPIError) -> Response:
        return database_down_response(error, request.method, request.path)

    @app.errorhandler(PoolTimeout)
    def _database_busy(error: PoolTimeout) -> Response:
        return database_busy_response(error, request.method, request.path)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response | HTTPException:
        if not _wants_json():
            return error
        return http_error_response(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        return unexpected_error_response(request.method, request.path)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/gps/", "/telephony/"))
