"""Issue and rotate tokens: a user's API token, a unit's GPS device token.

`give_*` sets a fresh token's hash on the row (the caller's transaction commits it) and returns the
secret to show once; `rotate_*` is the whole use case by name, committed.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cad.domain.tokens import API_PREFIX, DEVICE_PREFIX, IssuedToken
from cad.models import Unit, User


class UnknownHolder(LookupError):
    """No user or unit by that name."""


def give_api_token(user: User) -> str:
    """A new API token for `user` (the old one stops working); the secret, to show once."""
    token = IssuedToken.new(API_PREFIX)
    user.api_token_hash = token.hash
    return token.secret


def give_device_token(unit: Unit) -> str:
    """A new GPS device token for `unit` (the old one stops working); the secret, to show once."""
    token = IssuedToken.new(DEVICE_PREFIX)
    unit.device_token_hash = token.hash
    return token.secret


def rotate_api_token(session: Session, username: str) -> str:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise UnknownHolder(f"no user {username!r}")
    secret = give_api_token(user)
    session.commit()
    return secret


def rotate_device_token(session: Session, callsign: str) -> str:
    unit = session.scalar(sa.select(Unit).where(Unit.callsign == callsign))
    if unit is None:
        raise UnknownHolder(f"no unit {callsign!r}")
    secret = give_device_token(unit)
    session.commit()
    return secret
