"""Reverse searches shared by the processes of one machine, in files named by what they depend on.

A router keeps each target's reverse search (a `Field`, ~0.23 MB and ~2.5 ms on Porto Alegre) in
its own memory, so a second gunicorn worker, the scheduler, or the same worker after a restart
searched again for an incident another process had already searched. The store is the second
level: a search done by any process is a file, and every process finds it there (a read from the
page cache takes a fraction of a millisecond). So the searches done when an incident is located
serve the dispatcher's first look, whichever worker answers it.

A file's name is a digest of everything the search depends on: the graph, which roads the
vehicle may use, its live edge times (free flow and the cameras' readings now), the walking
limits and the target. Nothing is ever stale: other readings give other edge times and so another
name, and a process that has not caught up with a reading yet computes its own. Files are written
whole under a temporary name and renamed; one that cannot be read is a miss. The oldest are
deleted beyond the budget. Nothing here may fail a dispatch: a full or read-only disk only means
searching again.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from routing.graph import RoadGraph
from routing.targets import Limits, Target
from routing.travel_times import Closure, Field

if TYPE_CHECKING:
    from routing.weights import LiveWeights, VehicleRoads

log = logging.getLogger(__name__)

#: Disk kept for searches: ~850 Porto Alegre fields (a busy shift's incidents, each profile).
DEFAULT_STORE_MB = 200.0
_MAGIC = b"WRF1"
_SUFFIX = ".field"
#: Puts between two looks at what the directory holds.
_SWEEP_EVERY = 32


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


def graph_digest(graph: RoadGraph) -> str:
    """What identifies a graph's searches: its nodes, edges and their lengths (once per graph)."""

    def build() -> str:
        arrays = (graph.node_lat, graph.node_lon, graph.indptr, graph.edge_head, graph.edge_road, graph.edge_length_m)
        return _digest(*(np.ascontiguousarray(a).tobytes() for a in arrays))

    value: str = graph.lazy("digest", build)
    return value


class FieldStore:
    """The searches of every process of this machine that uses `directory` (see the module)."""

    def __init__(self, directory: Path | str, budget_mb: float = DEFAULT_STORE_MB) -> None:
        self.directory = Path(directory)
        self.budget = int(budget_mb * 1e6)
        self._weights: OrderedDict[tuple[str, int], str] = OrderedDict()  # (profile, version) → digest
        self._lock = threading.Lock()
        self._puts = itertools.count()
        self._temporary = itertools.count()
        self._warned = False

    def name(
        self, graph: RoadGraph, limits: Limits, roads: VehicleRoads, w: LiveWeights, target: tuple[float, float]
    ) -> str:
        """The file name of the search from `target` for this vehicle on these weights."""
        memo = (roads.profile.name, w.version)
        with self._lock:
            weights = self._weights.get(memo)
        if weights is None:  # once per profile and congestion version
            weights = _digest(
                graph_digest(graph).encode(), np.packbits(roads.road_ok).tobytes(), np.asarray(w.forward).tobytes()
            )
            with self._lock:
                self._weights[memo] = weights
                while len(self._weights) > 64:
                    self._weights.popitem(last=False)
        where = json.dumps([limits.snap_limit_m, limits.max_walk_m, limits.walking_speed_mps, *target])
        return _digest(weights.encode(), where.encode()) + _SUFFIX

    def get(self, name: str, graph: RoadGraph) -> Field | None:
        """The kept search `name` of `graph`, None when there is none (or none that fits it)."""
        try:
            data = (self.directory / name).read_bytes()
        except OSError:  # not searched yet (or no store to be had): a miss
            return None
        try:
            return _fitting(_decode(data), graph)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            log.warning("kept search %s not read, searching again: %s", name, error)
            with contextlib.suppress(OSError):
                (self.directory / name).unlink()
            return None

    def put(self, name: str, field: Field) -> None:
        path = self.directory / name
        temporary = self.directory / f".{name}.{os.getpid()}.{threading.get_ident()}.{next(self._temporary)}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(_encode(field))
            os.replace(temporary, path)
        except OSError as error:
            if not self._warned:  # once: a read-only or full disk would say it at every search
                self._warned = True
                log.warning("searches not kept on disk (each process searches for itself): %s", error)
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        if next(self._puts) % _SWEEP_EVERY == _SWEEP_EVERY - 1:
            self.sweep()

    def sweep(self) -> None:
        """Delete the oldest files beyond the budget (and temporary files a killed process left)."""
        try:
            entries = []
            with os.scandir(self.directory) as found:
                for entry in found:
                    with contextlib.suppress(OSError):
                        stat = entry.stat()
                        entries.append((stat.st_mtime, stat.st_size, entry.path, entry.name.endswith(".tmp")))
        except OSError:
            return
        entries.sort(reverse=True)  # newest first
        used = 0
        abandoned = time.time() - 60  # a temporary file is written in milliseconds: older, its writer died
        for mtime, size, path, temporary in entries:
            used += size
            if used > self.budget or (temporary and mtime < abandoned):
                with contextlib.suppress(OSError):
                    os.unlink(path)


def _fitting(field: Field, graph: RoadGraph) -> Field:
    """`field` if its arrays and target are of `graph`'s sizes (a file that reads whole but is not
    one of this graph's searches must not reach a ranking), else ValueError."""
    n, goal = graph.node_count, field.goal
    sizes = [len(field.cost_s), len(field.lengths)]
    expected = [n + 1, n + 1]
    if field.closure is not None:
        c = field.closure
        sizes += [len(c.walk), len(c.cost_s), len(c.lengths), len(c.entry_nodes)]
        expected += [n, n + 1, n + 1, n]
    if sizes != expected or not (0 <= goal.road < graph.road_count and -1 <= goal.stop_node < n):
        raise ValueError(f"arrays {sizes} and target road {goal.road} do not fit a graph of {n} nodes")
    return field


def _encode(field: Field) -> bytes:
    arrays: list[np.ndarray] = [field.cost_s, field.lengths]
    closure = field.closure
    if closure is not None:
        arrays += [closure.walk, closure.cost_s, closure.lengths, closure.entry_nodes]
    g = field.goal
    header = json.dumps(
        {
            "goal": [g.road, g.fraction, g.snap_distance_m, list(g.point), g.stop_node, g.walk_m, list(g.stop)],
            "arrays": [[str(a.dtype), len(a)] for a in arrays],
            "closure": closure is not None,
        }
    ).encode()
    header += b" " * (-(len(_MAGIC) + 4 + len(header)) % 8)  # the arrays start 8-byte aligned
    return b"".join(
        [_MAGIC, len(header).to_bytes(4, "little"), header, *(np.ascontiguousarray(a).tobytes() for a in arrays)]
    )


def _decode(data: bytes) -> Field:
    if data[:4] != _MAGIC:
        raise ValueError("not a kept search")
    size = int.from_bytes(data[4:8], "little")
    header = json.loads(data[8 : 8 + size])
    offset = 8 + size
    arrays = []
    for dtype, count in header["arrays"]:
        array = np.frombuffer(data, dtype=np.dtype(dtype), count=count, offset=offset)  # read-only
        offset += array.nbytes
        arrays.append(array)
    if offset != len(data):
        raise ValueError(f"kept search is {len(data)} bytes, its header says {offset}")
    road, fraction, snap_m, point, stop_node, walk_m, stop = header["goal"]
    goal = Target(
        int(road),
        float(fraction),
        float(snap_m),
        (float(point[0]), float(point[1])),
        int(stop_node),
        float(walk_m),
        (float(stop[0]), float(stop[1])),
    )
    closure = Closure(*arrays[2:6]) if header["closure"] else None
    return Field(goal, arrays[0], arrays[1], closure)
