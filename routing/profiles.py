"""Vehicle profiles (one per unit type) and the default speeds of road classes.

A profile decides which edges a vehicle may use, as a boolean mask over the graph's
edges, and how much slower than the road's speed it drives.  Everything is plain,
frozen data: a deployment passes its own mapping of profiles to the router.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from routing.errors import UnknownProfile

if TYPE_CHECKING:
    from routing.graph import RoadGraph

#: Free-flow speed (km/h) of each road class when `maxspeed` is not tagged, set for the
#: traffic of an Indonesian city.  Its keys are also the classes an import keeps.
DEFAULT_SPEEDS_KMH: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 60.0,
        "motorway_link": 40.0,
        "trunk": 45.0,
        "trunk_link": 30.0,
        "primary": 40.0,
        "primary_link": 30.0,
        "secondary": 35.0,
        "secondary_link": 25.0,
        "tertiary": 30.0,
        "tertiary_link": 20.0,
        "unclassified": 25.0,
        "road": 20.0,
        "residential": 20.0,
        "living_street": 10.0,
        "service": 15.0,
        "track": 10.0,
    }
)

#: Road width (m) assumed when a way has no `width` tag: Makassar's *lorong* are mostly
#: tagged living_street, service=alley or track without a width.  Keys are a highway class
#: or "service=VALUE" (which wins over the class).
DEFAULT_ASSUMED_WIDTH_M: Mapping[str, float] = MappingProxyType(
    {
        "living_street": 3.0,
        "track": 2.5,
        "service=alley": 2.5,
        "service=driveway": 3.0,
        "path": 2.0,
        "footway": 1.5,
        "pedestrian": 3.0,
    }
)

ALL_CAR_CLASSES: frozenset[str] = frozenset(DEFAULT_SPEEDS_KMH)
_NO_TRACK = ALL_CAR_CLASSES - {"track"}


@dataclass(frozen=True)
class VehicleProfile:
    """What a unit type's vehicle is and where it may drive.

    An edge is usable iff its highway class is in `highways`, its `service` value is not in
    `excluded_services`, and none of `maxwidth < width_m`, road width (tagged, else
    assumed) `< width_m + width_margin_m`, `maxweight < weight_t`, `maxheight < height_m`.
    Travel time is the edge's free-flow time divided by `speed_factor`.
    """

    name: str
    width_m: float
    weight_t: float
    height_m: float
    highways: frozenset[str] = ALL_CAR_CLASSES
    excluded_services: frozenset[str] = frozenset()
    speed_factor: float = 1.0
    width_margin_m: float = 0.4
    assumed_width_m: Mapping[str, float] = field(default_factory=lambda: DEFAULT_ASSUMED_WIDTH_M)

    def __post_init__(self) -> None:
        if not self.speed_factor > 0:
            raise ValueError(f"profile {self.name!r}: speed_factor must be positive")

    def edge_mask(self, graph: RoadGraph) -> npt.NDArray[np.bool_]:
        """Boolean mask over the graph's edges: True where this vehicle may drive."""
        return self.road_mask(graph)[graph.edge_road]

    def road_mask(self, graph: RoadGraph) -> npt.NDArray[np.bool_]:
        """Boolean mask over the graph's roads (undirected pieces of way)."""
        highway_ok = np.array([name in self.highways for name in graph.highway_names], dtype=bool)
        service_ok = np.array([name not in self.excluded_services for name in graph.service_names], dtype=bool)
        mask = highway_ok[graph.road_highway] & service_ok[graph.road_service]
        width = graph.road_width_m.astype(np.float64)
        assumed = self._assumed_widths(graph)
        width = np.where(np.isnan(width), assumed, width)
        with np.errstate(invalid="ignore"):
            mask &= ~(width < self.width_m + self.width_margin_m)
            mask &= ~(graph.road_maxwidth_m < self.width_m)
            mask &= ~(graph.road_maxweight_t < self.weight_t)
            mask &= ~(graph.road_maxheight_m < self.height_m)
        return np.asarray(mask, dtype=bool)

    def _assumed_widths(self, graph: RoadGraph) -> npt.NDArray[np.float64]:
        by_class = np.array([self.assumed_width_m.get(name, np.nan) for name in graph.highway_names], dtype=np.float64)
        by_service = np.array(
            [self.assumed_width_m.get(f"service={name}", np.nan) for name in graph.service_names],
            dtype=np.float64,
        )
        service_width = by_service[graph.road_service]
        return np.where(np.isnan(service_width), by_class[graph.road_highway], service_width)


def _profiles(*profiles: VehicleProfile) -> Mapping[str, VehicleProfile]:
    return MappingProxyType({p.name: p for p in profiles})


#: The project's unit types.  Heavy vehicles keep off tracks, alleys and roads narrower
#: than about 3 m; small cars (home care, police) go down the lorong.
DEFAULT_PROFILES: Mapping[str, VehicleProfile] = _profiles(
    VehicleProfile(
        "fire_engine",
        width_m=2.55,
        weight_t=16.0,
        height_m=3.3,
        highways=_NO_TRACK,
        excluded_services=frozenset({"alley"}),
        speed_factor=0.85,
        width_margin_m=0.5,
    ),
    VehicleProfile(
        "water_tanker",
        width_m=2.55,
        weight_t=26.0,
        height_m=3.5,
        highways=_NO_TRACK,
        excluded_services=frozenset({"alley", "driveway"}),
        speed_factor=0.75,
        width_margin_m=0.5,
    ),
    VehicleProfile(
        "rescue",
        width_m=2.4,
        weight_t=10.0,
        height_m=3.0,
        highways=_NO_TRACK,
        excluded_services=frozenset({"alley"}),
        speed_factor=0.9,
        width_margin_m=0.5,
    ),
    VehicleProfile("ambulance", width_m=2.1, weight_t=3.5, height_m=2.7, speed_factor=1.0),
    VehicleProfile("police", width_m=1.9, weight_t=2.2, height_m=1.9, speed_factor=1.0),
    VehicleProfile("home_care", width_m=1.7, weight_t=1.5, height_m=1.6, speed_factor=1.0, width_margin_m=0.3),
)


def get_profile(profiles: Mapping[str, VehicleProfile], name: str) -> VehicleProfile:
    """The profile called `name`, or UnknownProfile listing the configured ones."""
    try:
        return profiles[name]
    except KeyError:
        known = ", ".join(sorted(profiles))
        raise UnknownProfile(f"unknown vehicle profile {name!r}; configured: {known}") from None
