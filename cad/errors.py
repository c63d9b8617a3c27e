"""The domain's named errors mapped to HTTP once, and the one JSON error shape they become.

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
from cad.domain.errors import (
    Conflict,
    DatabaseUnavailable,
    DomainError,
    Forbidden,
    InvalidInput,
    Misconfigured,
    NotFound,
    Unauthorized,
    UnitUnavailable,
)
from cad.domain.incidents import IllegalIncidentTransition
from dispatch.units import IllegalUnitTransition

__all__ = [
    "ApiError",
    "Conflict",
    "DatabaseUnavailable",
    "DomainError",
    "Forbidden",
    "InvalidInput",
    "Misconfigured",
    "NotFound",
    "Unauthorized",
    "UnitUnavailable",
    "error_answer",
    "error_body",
    "error_response",
    "http_of",
    "register_error_handlers",
]
log = logging.getLogger(__name__)


class ApiError(Exception):
    """An adapter's own HTTP answer (a request too large, a CSRF token missing): its status, a
    stable code, and the field it is about. Use cases raise `cad.domain.errors` instead."""

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


#: Every named error of the domain and of the pure packages: the HTTP status and code it answers
#: with (a domain error's own `code`, when it names one, is finer and wins).
HTTP_OF: dict[type[Exception], tuple[int, str]] = {
    InvalidInput: (400, "invalid"),
    Unauthorized: (401, "unauthorized"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    UnitUnavailable: (409, "unit_unavailable"),
    Misconfigured: (500, "misconfigured"),
    DatabaseUnavailable: (503, "database_unavailable"),
    IllegalUnitTransition: (409, "illegal_transition"),
    IllegalIncidentTransition: (409, "illegal_transition"),
    IllegalCallTransition: (409, "illegal_transition"),
}
#: The field the pure packages' errors are about (they carry none of their own).
PURE_FIELDS: dict[type[Exception], str] = {
    IllegalUnitTransition: "status",
    IllegalIncidentTransition: "status",
    IllegalCallTransition: "state",
}


def http_of(error: Exception) -> tuple[int, str, str, str | None]:
    """(status, code, message, field) of a named error; anything unnamed is a 500."""
    for cls in type(error).__mro__:
        if cls in HTTP_OF:
            status, code = HTTP_OF[cls]
            if isinstance(error, DomainError):
                return status, error.code or code, error.message, error.field
            return status, code, str(error), PURE_FIELDS.get(cls)
    return 500, "internal_error", "internal error; it has been logged", None


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = jsonify(error_body(code, message, field))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="warroom"'
    return response


def api_error_response(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.field)


def named_error_response(error: Exception) -> Response:
    status, code, message, field = http_of(error)
    response = error_response(status, code, message, field)
    if status == 503:
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
    if isinstance(error, (DomainError, *PURE_FIELDS)):
        return named_error_response(error)
    if isinstance(error, OperationalError | InterfaceError):
        return database_down_response(error, method, path)
    if isinstance(error, PoolTimeout):
        return database_busy_response(error, method, path)
    if isinstance(error, HTTPException):
        return http_error_response(error)
    return unexpected_error_response(method, path)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, api_error_response)
    app.register_error_handler(DomainError, named_error_response)
    for exc_type in PURE_FIELDS:
        app.register_error_handler(exc_type, named_error_response)

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
