"""Bearer secrets: the one issuer of API and GPS device tokens (pure).

A token is shown once, to whoever asked for it; the database keeps only its SHA-256, so a
stolen copy of the database lets nobody in. A new token replaces the old one, which stops
working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

#: A person's (or a program's) API token: `Authorization: Bearer wr_…`.
API_PREFIX = "wr"
#: A vehicle's GPS device token (OsmAnd/Traccar `id`, or the positions batch's bearer).
DEVICE_PREFIX = "dev"


def new_token(prefix: str) -> str:
    """A fresh secret, shown once; only its hash is stored."""
    return f"{prefix}_{secrets.token_urlsafe(24)}"


def hash_token(token: str) -> str:
    """What the database keeps of a token (and what a presented one is looked up by)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    secret: str  # for the holder, once
    hash: str  # for the database

    @classmethod
    def new(cls, prefix: str) -> IssuedToken:
        secret = new_token(prefix)
        return cls(secret, hash_token(secret))
