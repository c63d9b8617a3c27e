"""How the timeline names who did something: a plain rule, so use cases name the actor the adapter
authenticated without knowing how it was authenticated."""

from __future__ import annotations

from typing import Protocol


class Named(Protocol):
    @property
    def username(self) -> str: ...


def actor_of(user: Named | None) -> str:
    """`user:<name>` for a person; `system` when no one acted (a timer, a sweep)."""
    return f"user:{user.username}" if user is not None else "system"
