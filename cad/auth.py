"""API bearer tokens, unit device tokens, and role checks."""

from __future__ import annotations

import hmac

from flask import g, request
from sqlalchemy import select

from cad.db import db
from cad.domain.tokens import hash_token
from cad.errors import Forbidden, Unauthorized
from cad.models import Role, Unit, User


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an 'Authorization: Bearer <token>' header is required", "Authorization")
    return token.strip()


def authenticate_user(roles: frozenset[Role]) -> User:
    """The user behind the request's bearer token (or, without one, the console's login session),
    if their role is one of `roles`."""
    user = _session_user() if not request.headers.get("Authorization") else None
    if user is None:
        token_hash = hash_token(_bearer())
        user = db.session.scalar(select(User).where(User.api_token_hash == token_hash))
        if user is None or not user.active or not hmac.compare_digest(user.api_token_hash or "", token_hash):
            raise Unauthorized("the bearer token is not valid", "Authorization")
    if roles and user.role not in roles:
        allowed = ", ".join(sorted(roles))
        raise Forbidden(f"role {user.role} may not do this (allowed: {allowed})", "Authorization")
    g.user = user
    return user


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
