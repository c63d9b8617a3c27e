"""Named errors of the routing package; the HTTP layer turns each into a 4xx answer."""

from __future__ import annotations


class RoutingError(Exception):
    """Base class of every error this package raises on purpose."""


class OutsideRoadNetwork(RoutingError, ValueError):
    """A position is farther from any usable road than the snap limit allows."""

    def __init__(self, message: str, *, distance_m: float | None = None) -> None:
        super().__init__(message)
        self.distance_m = distance_m


class NoRoute(RoutingError, ValueError):
    """No road path joins the two positions for this vehicle (closed roads, islands)."""


class UnknownCamera(RoutingError, KeyError):
    """A congestion reading names a camera that was never mapped to the road graph."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown camera"


class BadCongestionLevel(RoutingError, ValueError):
    """A congestion reading carries a level that is not configured."""


class UnknownProfile(RoutingError, KeyError):
    """A route was asked for a vehicle profile (unit type) that is not configured."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown profile"


class BadRoadData(RoutingError, ValueError):
    """An extract or cache file cannot be read as road data."""
