"""Secrets handed out once (API tokens, GPS device tokens) and the hash kept of them: plain
functions, no Flask, so use cases, the CLI and the demo issue and check them alike."""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str) -> str:
    """A fresh secret, shown once; only its hash is stored."""
    return f"{prefix}_{secrets.token_urlsafe(24)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
