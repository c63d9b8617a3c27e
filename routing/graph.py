"""RoadGraph: the directed road network as flat numpy arrays, saved to and loaded from
a compact cache file (an uncompressed ``.npz`` archive: arrays plus one JSON header,
never pickled objects).

Vocabulary:

* a *node* is an intersection or a way end;
* a *road* is the piece of one OSM way between two nodes, with its full geometry
  (every OSM node in between), its length and its tags;
* an *edge* is one direction of travel along a road.  Edges are sorted by (tail, head),
  so edge ids are positions in the forward CSR adjacency; the graph has neither
  self-loops nor parallel edges (the builder splits them), so a (tail, head) pair
  names at most one edge.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from routing.errors import BadRoadData
from routing.geo import LocalProjection

CACHE_FORMAT = "warroom112-roads"
CACHE_VERSION = 1

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Bools = npt.NDArray[np.bool_]

_ARRAY_TYPES: dict[str, type[np.generic]] = {
    "node_lat": np.float64,
    "node_lon": np.float64,
    "node_osm_id": np.int64,
    "road_ptr": np.int64,
    "coord_lat": np.float64,
    "coord_lon": np.float64,
    "road_start": np.int32,
    "road_end": np.int32,
    "road_length_m": np.float64,
    "road_way_id": np.int64,
    "road_name": np.int32,
    "road_highway": np.uint8,
    "road_service": np.uint8,
    "road_access": np.uint8,
    "road_width_m": np.float32,
    "road_maxwidth_m": np.float32,
    "road_maxweight_t": np.float32,
    "road_maxheight_m": np.float32,
    "edge_tail": np.int32,
    "edge_head": np.int32,
    "edge_road": np.int32,
    "edge_forward": np.bool_,
    "edge_time_s": np.float64,
}


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """The road network of one extract.  Immutable; share one per process."""

    node_lat: F64
    node_lon: F64
    node_osm_id: I64
    road_ptr: I64  # road r's coordinates are coord_*[road_ptr[r]:road_ptr[r + 1]]
    coord_lat: F64
    coord_lon: F64
    road_start: I32
    road_end: I32
    road_length_m: F64
    road_way_id: I64
    road_name: I32  # index into `names`, -1 when unnamed
    road_highway: U8  # index into `highway_names`
    road_service: U8  # index into `service_names` ("" = no service tag)
    road_access: U8  # index into `access_names`: the motor-vehicle access value
    road_width_m: F32  # NaN = not tagged
    road_maxwidth_m: F32
    road_maxweight_t: F32
    road_maxheight_m: F32
    edge_tail: I32
    edge_head: I32
    edge_road: I32
    edge_forward: Bools  # True: the edge runs along the road's geometry
    edge_time_s: F64  # free-flow travel time
    highway_names: tuple[str, ...]
    service_names: tuple[str, ...]
    access_names: tuple[str, ...]
    names: tuple[str, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    _lazy: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for name, dtype in _ARRAY_TYPES.items():
            array = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        n, e = self.node_count, self.edge_count
        if len(self.edge_head) != e or len(self.edge_road) != e or len(self.edge_time_s) != e:
            raise BadRoadData("edge arrays differ in length")
        if e and (self.edge_tail.max() >= n or self.edge_head.max() >= n):
            raise BadRoadData("an edge names a node that does not exist")
        keys = self.edge_tail.astype(np.int64) * n + self.edge_head
        if e and not bool(np.all(np.diff(keys) > 0)):
            raise BadRoadData("edges must be sorted by (tail, head) without duplicates")
        indptr = np.searchsorted(self.edge_tail, np.arange(n + 1)).astype(np.int32)
        rev_perm = np.lexsort((self.edge_tail, self.edge_head)).astype(np.int32)
        rev_indptr = np.searchsorted(self.edge_head[rev_perm], np.arange(n + 1)).astype(np.int32)
        twin = np.full(e, -1, dtype=np.int32)
        road_edges = np.full((len(self.road_length_m), 2), -1, dtype=np.int32)
        road_edges[self.edge_road, np.where(self.edge_forward, 0, 1)] = np.arange(e, dtype=np.int32)
        both = (road_edges[:, 0] >= 0) & (road_edges[:, 1] >= 0)
        twin[road_edges[both, 0]] = road_edges[both, 1]
        twin[road_edges[both, 1]] = road_edges[both, 0]
        lat0 = float(np.mean(self.node_lat)) if n else 0.0
        lon0 = float(np.mean(self.node_lon)) if n else 0.0
        for name, value in (
            ("indptr", indptr),
            ("edge_key", keys),
            ("rev_perm", rev_perm),
            ("rev_indptr", rev_indptr),
            ("rev_indices", np.ascontiguousarray(self.edge_tail[rev_perm])),
            ("edge_twin", twin),
            ("road_fwd_edge", np.ascontiguousarray(road_edges[:, 0])),
            ("road_bwd_edge", np.ascontiguousarray(road_edges[:, 1])),
            ("edge_length_m", np.ascontiguousarray(self.road_length_m[self.edge_road])),
        ):
            value.flags.writeable = False
            object.__setattr__(self, name, value)
        object.__setattr__(self, "projection", LocalProjection(lat0, lon0))

    # Derived arrays, set in __post_init__ (declared for type checkers).
    indptr: I32 = field(init=False, repr=False)
    edge_key: I64 = field(init=False, repr=False)
    rev_perm: I32 = field(init=False, repr=False)
    rev_indptr: I32 = field(init=False, repr=False)
    rev_indices: I32 = field(init=False, repr=False)
    edge_twin: I32 = field(init=False, repr=False)
    road_fwd_edge: I32 = field(init=False, repr=False)
    road_bwd_edge: I32 = field(init=False, repr=False)
    edge_length_m: F64 = field(init=False, repr=False)
    projection: LocalProjection = field(init=False, repr=False)

    @property
    def node_count(self) -> int:
        return len(self.node_lat)

    @property
    def edge_count(self) -> int:
        return len(self.edge_tail)

    @property
    def road_count(self) -> int:
        return len(self.road_length_m)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(min_lat, min_lon, max_lat, max_lon) of all road geometry."""
        return (
            float(self.coord_lat.min()),
            float(self.coord_lon.min()),
            float(self.coord_lat.max()),
            float(self.coord_lon.max()),
        )

    def road_coordinates(self, road: int) -> tuple[F64, F64]:
        """(lats, lons) of a road's geometry, from its start node to its end node."""
        lo, hi = int(self.road_ptr[road]), int(self.road_ptr[road + 1])
        return self.coord_lat[lo:hi], self.coord_lon[lo:hi]

    def road_label(self, road: int) -> str:
        index = int(self.road_name[road])
        return self.names[index] if index >= 0 else ""

    def find_edge(self, tail: int, head: int) -> int:
        """Id of the edge tail → head, or -1."""
        key = np.int64(tail) * self.node_count + head
        pos = int(np.searchsorted(self.edge_key, key))
        return pos if pos < self.edge_count and self.edge_key[pos] == key else -1

    def find_edges(self, tails: I32 | I64, heads: I32 | I64) -> I64:
        """Vectorised :meth:`find_edge` for pairs known to be edges."""
        keys = tails.astype(np.int64) * self.node_count + heads
        return np.searchsorted(self.edge_key, keys).astype(np.int64)

    def lazy(self, name: str, build: Any) -> Any:
        """A derived structure (snapping index, …) built once on first use, thread-safely."""
        value = self._lazy.get(name)
        if value is None:
            with self._lock:
                value = self._lazy.get(name)
                if value is None:
                    value = build()
                    self._lazy[name] = value
        return value

    # -- cache file -------------------------------------------------------------------

    def save(self, path: Path | str) -> Path:
        """Write the graph to `path` atomically (a temporary file renamed into place)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "highway_names": list(self.highway_names),
            "service_names": list(self.service_names),
            "access_names": list(self.access_names),
            "names": list(self.names),
            "meta": self.meta,
        }
        arrays = {name: getattr(self, name) for name in _ARRAY_TYPES}
        arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                _savez(handle, arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path | str) -> RoadGraph:
        """Read a cache file written by :meth:`save`; BadRoadData if it is not one."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                header = json.loads(bytes(archive["header"]).decode("utf-8"))
                if header.get("format") != CACHE_FORMAT or header.get("version") != CACHE_VERSION:
                    raise BadRoadData(f"{path} is not a road cache of version {CACHE_VERSION}")
                arrays = {name: archive[name] for name in _ARRAY_TYPES}
        except (OSError, ValueError, KeyError) as exc:
            if isinstance(exc, BadRoadData):
                raise
            raise BadRoadData(f"cannot read road cache {path}: {exc}") from exc
        return cls(
            **arrays,
            highway_names=tuple(header["highway_names"]),
            service_names=tuple(header["service_names"]),
            access_names=tuple(header["access_names"]),
            names=tuple(header["names"]),
            meta=dict(header.get("meta", {})),
        )


def _savez(handle: IO[bytes], arrays: dict[str, npt.NDArray[Any]]) -> None:
    np.savez(handle, allow_pickle=False, **arrays)
