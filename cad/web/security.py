"""The consoles' security: login sessions (Flask-Login), CSRF tokens, login throttling, the audit hook.

A browser that is logged in carries its session cookie on every request, so every unsafe request
it makes (a form post, a `fetch` POST) must also carry this session's CSRF token: the form field
`csrf_token` or the `X-CSRFToken` header. Requests with an `Authorization` header (API clients,
the SIP agent) and the machine endpoints with credentials of their own (GPS devices, Twilio, the
SIP agent's API) are not a browser's ambient credential and need none.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request, session
from flask_login import LoginManager, current_user
from werkzeug.security import check_password_hash, generate_password_hash

from cad import clock
from cad.db import db
from cad.domain.actors import Person
from cad.errors import ApiError
from cad.models import AuditEntry, User
from cad.rate_limits import SharedLimits, per_seconds

log = logging.getLogger(__name__)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Blueprints whose endpoints authenticate with credentials of their own, never a session cookie.
MACHINE_BLUEPRINTS = frozenset({"gps", "gps_api", "sip_agents", "sms"})
CSRF_KEY = "csrf_token"

login_manager = LoginManager()
login_manager.login_view = "pages.login"
login_manager.session_protection = "strong"


class CsrfRefused(ApiError):
    status, code = 403, "csrf"


class LoginUser:
    """What Flask-Login keeps of a user between requests: the id; the row is read per request."""

    def __init__(self, user: User) -> None:
        self.user = user

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.user.id)


@login_manager.user_loader
def _load(user_id: str) -> LoginUser | None:
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    return LoginUser(user) if user is not None and user.active else None


def session_user() -> User | None:
    """The user logged in through the consoles on this request, if any."""
    if current_user and current_user.is_authenticated:
        return current_user.user  # type: ignore[no-any-return]
    return None


# --- passwords -----------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def password_matches(user: User | None, password: str) -> bool:
    if user is None or not user.password_hash or not user.active:
        check_password_hash(_DUMMY_HASH, password)  # the same work whether or not the name exists
        return False
    return check_password_hash(user.password_hash, password)


_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))


#: A login for a name (or from an address) that has failed this often lately waits first; the
#: wait doubles with each further failure, from SLOWDOWN_FIRST_S up to SLOWDOWN_MAX_S.
SLOWDOWN_FIRST_S = 0.25
SLOWDOWN_MAX_S = 3.0
#: Failures counted per name and per address for the slowdown (enough to reach its cap).
_SPREAD_COUNTED = 1000


def slowdown_s(failures: int, max_failures: int) -> float:
    """How long a login waits before its password is checked, after `failures` lately."""
    if failures < max_failures:
        return 0.0
    return min(SLOWDOWN_MAX_S, SLOWDOWN_FIRST_S * 2 ** min(failures - max_failures, 16))


class LoginGuard:
    """Password guessing, counted once for the whole centre (`cad.rate_limits`).

    A name from one address (the pair) has `max_failures` tries per `lockout_s`, a moving window:
    each try takes its place before the password is checked, so guesses sent at once cannot
    overtake the count, and a correct password gives it back. When the pair's window is full the
    pair is refused until its oldest try leaves the window, even with the right password. Failures
    for a name from many addresses (or from one address for many names) never lock anyone out, so
    a stranger cannot lock a call-taker out of their own seat: they only slow every login for
    that name (or address) down, by a wait that grows with the failures up to SLOWDOWN_MAX_S."""

    def __init__(
        self,
        limits: SharedLimits,
        max_failures: int,
        lockout_s: float,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits, self.max_failures, self.pause = limits, max_failures, pause
        self.pair = per_seconds(max_failures, lockout_s)
        self.spread = per_seconds(_SPREAD_COUNTED, lockout_s)

    def attempt(self, name: str, address: str) -> float:
        """Take this try's place: 0 when it may go on, else the seconds until the pair may try again."""
        name = name.lower()
        if self.limits.moving.hit(self.pair, "login", name, address):
            return 0.0
        return max(1.0, self.limits.wait_s(self.pair, "login", name, address))

    def slow_down(self, name: str, address: str) -> float:
        """Wait as long as recent failures for this name or from this address ask; the seconds waited."""
        failures = max(
            self.limits.held(self.spread, "login-name", name.lower()),
            self.limits.held(self.spread, "login-address", address),
        )
        wait_s = slowdown_s(failures, self.max_failures)
        if wait_s > 0:
            self.pause(wait_s)
        return wait_s

    def failed(self, name: str, address: str) -> None:
        self.limits.moving.hit(self.spread, "login-name", name.lower())
        self.limits.moving.hit(self.spread, "login-address", address)

    def succeeded(self, name: str, address: str) -> None:
        self.limits.moving.clear(self.pair, "login", name.lower(), address)


# --- CSRF ----------------------------------------------------------------------------------------


def csrf_token() -> str:
    """This session's token, made on first use."""
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return str(token)


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or request.headers.get("Authorization"):
        return
    if request.blueprint in MACHINE_BLUEPRINTS:
        return
    if request.path.startswith("/api/") and session_user() is None:
        return  # no session: the API refuses it for want of a bearer token
    expected = session.get(CSRF_KEY)
    sent = request.headers.get("X-CSRFToken") or (
        request.form.get(CSRF_KEY)
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
        else None
    )
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise CsrfRefused("the CSRF token is missing or wrong: reload the page and try again", CSRF_KEY)


# --- audit ---------------------------------------------------------------------------------------


def client_ip() -> str | None:
    return (request.remote_addr or "")[:64] or None


def audit(
    action: str, user: Person | None, target: str | None, status: int | None, username: str | None = None
) -> None:
    """Add one audit row in its own transaction (after the request's own work committed)."""
    db.session.rollback()  # whatever the view left open is not ours to commit
    db.session.add(
        AuditEntry(
            at=clock.now(),
            user_id=user.id if user else None,
            username=(user.username if user else username or None),
            action=action[:80],
            target=(target or "")[:255] or None,
            status=status,
            ip=client_ip(),
        )
    )
    db.session.commit()


def _audit_request(response: Response) -> Response:
    """Every state-changing request by a known person (console session or bearer token) is recorded."""
    if request.method in SAFE_METHODS or g.get("audited"):
        return response
    user: Person | None = g.get("user") or session_user()
    if user is None:
        return response
    try:
        audit(f"{request.method} {request.endpoint or '?'}", user, request.full_path.rstrip("?"), response.status_code)
    except Exception:  # the action happened; a lost audit row must not turn it into an error
        log.exception("audit row not written for %s %s", request.method, request.path)
        db.session.rollback()
    return response


def page_headers(response: Response) -> Response:
    """Pages run only the app's own scripts, in no one else's frame."""
    if response.mimetype == "text/html":
        tiles = current_app.config["WARROOM"].map_tiles
        tile_origin = ""
        if tiles.startswith(("https://", "http://")):  # {s}.tiles.example.org: any of its subdomains
            parts = urlsplit(tiles)
            tile_origin = f" {parts.scheme}://{parts.netloc.replace('{s}', '*')}"
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:{tile_origin}; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def init_security(app: Flask) -> None:
    settings = app.config["WARROOM"]
    login_manager.init_app(app)
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=12))  # one shift
    app.extensions["warroom.login_guard"] = LoginGuard(
        app.extensions["warroom.limits"], settings.login_max_failures, settings.login_lockout_s
    )
    app.before_request(_check_csrf)
    app.after_request(_audit_request)
    app.after_request(page_headers)

    @app.context_processor
    def _security_context() -> dict[str, Any]:
        return {"csrf_token": csrf_token, "me": session_user()}
