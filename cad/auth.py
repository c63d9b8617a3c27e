"""API bearer tokens, unit device tokens, and role checks."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from flask import g, request
from sqlalchemy import bindparam, select

from cad.db import db
from cad.domain.actors import Person
from cad.domain.tokens import hash_token
from cad.errors import Forbidden, Unauthorized
from cad.models import Role, Unit, User


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """The person behind a bearer token: what the use cases and the audit read of them (a `Person`)."""

    id: int
    username: str
    display_name: str
    role: Role
    unit_id: int | None


#: Every API request asks this, so it is read as plain columns (no User row loaded by the ORM, no
#: identity map): ~1 ms of CPU less per request. Never cached: a revoked or rotated token, a user
#: made inactive, stops working at the next request.
_BY_TOKEN = select(
    User.id, User.username, User.display_name, User.role, User.unit_id, User.active, User.api_token_hash
).where(User.api_token_hash == bindparam("token_hash"))


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an 'Authorization: Bearer <token>' header is required", "Authorization")
    return token.strip()


def authenticate_user(roles: frozenset[Role]) -> Person:
    """The user behind the request's bearer token (or, without one, the console's login session),
    if their role is one of `roles`."""
    user: Person | None = _session_user() if not request.headers.get("Authorization") else None
    if user is None:
        user = token_holder(hash_token(_bearer()))
        if user is None:
            raise Unauthorized("the bearer token is not valid", "Authorization")
    if roles and user.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise Forbidden(f"role {user.role} may not do this (allowed: {allowed})", "Authorization")
    g.user = user
    return user


def token_holder(token_hash: str) -> TokenHolder | None:
    """The active user whose API token hashes to `token_hash`, or None."""
    session = db.session
    if session.autoflush:  # as the session's own execute would, on its connection
        session.flush()
    row = session.connection().execute(_BY_TOKEN, {"token_hash": token_hash}).first()
    if row is None:
        return None
    user_id, username, display_name, role, unit_id, active, stored_hash = row
    if not active or not hmac.compare_digest(stored_hash or "", token_hash):
        return None
    return TokenHolder(user_id, username, display_name, role, unit_id)


def _session_user() -> User | None:
    from cad.web.security import session_user

    return session_user()


def authenticate_device(token: str | None) -> Unit:
    """The unit whose GPS device token this is."""
    if not token:
        raise Unauthorized("a device token is required", "token")
    unit = db.session.scalar(select(Unit).where(Unit.device_token_hash == hash_token(token)))
    if unit is None:
        raise Unauthorized("the device token is not valid", "token")
    return unit
