"""The roles of the people who use the centre (stored by value)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CALL_TAKER = "call_taker"
    DISPATCHER = "dispatcher"
    CREW = "crew"
    MANAGER = "manager"
    ADMIN = "admin"
