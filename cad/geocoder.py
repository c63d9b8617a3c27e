"""Address search through a deployment's own Nominatim server (`WARROOM_GEOCODER_URL`), with the
extract's place index (routing.places) as the default and the fallback.

A geocoder that is slow, down or answers nonsense must never cost a call-taker the search: after
`timeout_s` or any error of the server, the local index answers, and the failure is logged.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import Nominatim

from routing.places import CATEGORIES, Place, PlaceIndex

log = logging.getLogger(__name__)

#: Nominatim's `class` of a road: the result is a street.
_STREET_CLASSES = frozenset({"highway"})
#: Nominatim's `type` of an address point: the result is a house number.
_ADDRESS_TYPES = frozenset({"house", "building", "yes"})


class NominatimSearch:
    """A Nominatim server (the OpenStreetMap geocoder) at `url`, e.g. `http://geocoder.local:8080`."""

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"WARROOM_GEOCODER_URL: {url!r} is not an http(s) URL")
        self.url = url
        self._nominatim = Nominatim(
            user_agent="warroom112",
            domain=parts.netloc + parts.path.rstrip("/"),
            scheme=parts.scheme,
            timeout=timeout_s,
        )

    def search(self, query: str, limit: int) -> list[Place]:
        found = self._nominatim.geocode(query, exactly_one=False, limit=limit) or []
        return [_place(location.raw, location.address, location.latitude, location.longitude) for location in found]


def _place(raw: dict[str, object], address: str, lat: float, lon: float) -> Place:
    kind_of = str(raw.get("class", ""))
    type_of = str(raw.get("type", ""))
    if kind_of in _STREET_CLASSES:
        return Place(address, "street", float(lat), float(lon))
    if type_of in _ADDRESS_TYPES:
        return Place(address, "address", float(lat), float(lon))
    return Place(address, "place", float(lat), float(lon), category=type_of if type_of in CATEGORIES else "")


def search_places(query: str, limit: int, local: PlaceIndex, remote: NominatimSearch | None) -> list[Place]:
    """The geocoder's answer when one is set and it finds something; else the extract's index."""
    if remote is not None:
        try:
            found = remote.search(query, limit)
        except (GeopyError, ValueError, KeyError, TypeError) as exc:
            log.warning("the geocoder at %s failed (%s): the local place index answers", remote.url, exc)
        else:
            if found:
                return found[:limit]
    return local.search(query, limit)
