"""The use cases' named refusals. They carry what a person needs (a message, the input field it
is about, and where one helps a finer reason code) and no HTTP status: `cad/errors.py` turns each
into its status and code once, for every adapter."""

from __future__ import annotations


class DomainError(Exception):
    """A use case refused: `message` for people, `field` the input it is about, `code` a finer
    reason than the class's when the adapter should name one (e.g. "outside_road_network")."""

    def __init__(self, message: str, field: str | None = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class InvalidInput(DomainError):
    """The input cannot be used as given."""


class NotFound(DomainError):
    """What the use case was asked about does not exist (or is not this caller's to find)."""


class Conflict(DomainError):
    """The request was fine but the state has moved on (already done, done by someone else)."""


class UnitUnavailable(Conflict):
    """The unit asked for is no longer free to send."""


class Forbidden(DomainError):
    """A rule of the centre forbids this actor this act (a crew acts on its own unit only)."""


class Unauthorized(DomainError):
    """A credential the use case checks itself (a GPS device token in a batch) is missing or wrong."""


class DatabaseUnavailable(DomainError):
    """A database failure reached the use case indirectly (another thread wrote for it)."""


class Misconfigured(DomainError):
    """The centre's own settings make the use case impossible (a broken targets file): its fault."""
