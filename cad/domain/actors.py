"""Who asks a use case, and how the timeline names them: plain rules, so use cases take the person
the adapter authenticated without knowing how (bearer token, console login, a crew's link)."""

from __future__ import annotations

from typing import Protocol

from cad.domain.roles import Role


class Person(Protocol):
    """A person the adapter authenticated (a `User` row is one): what the use cases read of them."""

    @property
    def id(self) -> int: ...

    @property
    def username(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def role(self) -> Role: ...

    @property
    def unit_id(self) -> int | None: ...


def actor_of(user: Person | None) -> str:
    """`user:<name>` for a person; `system` when no one acted (a timer, a sweep)."""
    return f"user:{user.username}" if user is not None else "system"
