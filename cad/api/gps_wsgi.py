"""The vehicles' GPS endpoints answered in front of Flask's request handling (issue 20).

Every vehicle reports every few seconds, each fix a request of its own: Flask's request context,
session, CSRF check, language selection, audit hook, URL matching and compression cost about as
much CPU as storing the fix, and a device uses none of them (its credential is its device token,
its answer an empty 200 or a small JSON). `DeviceEndpoints` is WSGI middleware that answers
`GET/HEAD/POST /gps/osmand` and `POST /api/v1/positions` with the same functions as the Flask
views (`cad.api.gps.osmand_answer`, `positions_answer`: token look-up, flood limit, the fix
writer), in an application context (`db.session`, `current_app`) but no request context, and
turns errors into the same JSON answers (`cad.errors.error_answer`), with the same security
headers (`cad.web.security.page_headers`). It never compresses (the bodies are a few hundred
bytes) and reads no session. Every other method or path goes to the app unchanged, so Flask
still answers OPTIONS, 405 and 404 for these paths as before. It sits inside ProxyFix (the
client's address as the proxies say, as for every request) and inside the server, so the access
log is the server's as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask, Request, Response, current_app, has_app_context
from werkzeug.middleware.proxy_fix import ProxyFix

from cad.api.gps import TooManyFixes, osmand_answer, positions_answer, too_many_response
from cad.errors import error_answer
from cad.web.security import page_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: path → (the methods answered here, the function that answers)
ANSWERS: dict[str, tuple[frozenset[str], Callable[[Flask, Request], Response]]] = {
    "/gps/osmand": (frozenset({"GET", "HEAD", "POST"}), osmand_answer),
    "/api/v1/positions": (frozenset({"POST"}), positions_answer),
}


class DeviceEndpoints:
    """WSGI middleware: the device endpoints here, everything else to `wsgi_app` (the Flask app's)."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._empty_ok: tuple[object, list[tuple[str, str]]] | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        answered = ANSWERS.get(path)
        if answered is None or method not in answered[0]:
            return self.wsgi_app(environ, start_response)
        app = self.app
        # as Flask does: the application context already pushed for this app (a test's) is used,
        # else one is pushed for the request and popped after (its teardown removes the session)
        context = None if has_app_context() and current_app._get_current_object() is app else app.app_context()
        if context is not None:
            context.push()
        request: Request = app.request_class(environ)
        try:
            try:
                response = answered[1](app, request)
            except TooManyFixes as error:
                response = too_many_response(error)
            except Exception as error:  # turned into the JSON answer Flask's handlers would give
                response = error_answer(error, method, path)
            if response.status_code == 200 and response.response == []:  # a fix stored: the usual answer
                start_response("200 OK", self._empty_ok_headers(environ))
                return []
            return page_headers(response)(environ, start_response)
        finally:
            request.close()
            if context is not None:
                context.pop()

    def _empty_ok_headers(self, environ: WSGIEnvironment) -> list[tuple[str, str]]:
        """An empty 200's headers as `page_headers` makes them, worked out again only when the
        settings change (the pages' policy names the map's tile server)."""
        settings = self.app.config["WARROOM"]
        made = self._empty_ok
        if made is None or made[0] is not settings:
            response = page_headers(self.app.response_class(status=200))
            made = self._empty_ok = (settings, response.get_wsgi_headers(environ).to_wsgi_list())
        return list(made[1])


def install(app: Flask) -> None:
    """Put `DeviceEndpoints` in front of the app's own WSGI callable, inside ProxyFix if present."""
    outer: Any = app.wsgi_app
    if isinstance(outer, ProxyFix):
        outer.app = DeviceEndpoints(app, outer.app)
    else:
        app.wsgi_app = DeviceEndpoints(app, outer)  # type: ignore[method-assign]
