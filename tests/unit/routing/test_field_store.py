"""The reverse searches every process of a machine shares (routing.field_store), on Porto Alegre:
a router that finds a search in the store answers as the router that did it, without searching;
other readings are another file, never a stale answer; a damaged file is a miss; the store keeps
to its budget."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from routing import RoadGraph, Router
from routing.field_store import FieldStore


def _nodes(graph: RoadGraph, seed: int, count: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    return [(float(graph.node_lat[i]), float(graph.node_lon[i])) for i in rng.integers(0, graph.node_count, count)]


def test_a_search_done_by_one_process_serves_another(poa_graph: RoadGraph, tmp_path: Path, searches: list[int]) -> None:
    target, *units = _nodes(poa_graph, 1, 121)
    worker_a = Router(poa_graph, field_store=FieldStore(tmp_path))
    worker_b = Router(poa_graph, field_store=FieldStore(tmp_path))  # another process: its own memory
    alone = Router(poa_graph, field_cache_mb=0)
    worker_a.search_ahead(target, ["fire_engine", "ambulance"])
    assert len(searches) == 2 and len(list(tmp_path.glob("*.field"))) == 2
    for profile in ("fire_engine", "ambulance"):
        assert worker_b.travel_times_to(target, units, profile) == alone.travel_times_to(target, units, profile)
    assert len(searches) == 4  # only `alone` searched again: b read a's
    worker_b.travel_times_to(target, units, "police")  # not searched ahead: b searches, and keeps it
    assert len(searches) == 5 and len(list(tmp_path.glob("*.field"))) == 3


def test_other_readings_are_another_search_and_a_closure_comes_back_whole(
    poa_graph: RoadGraph, tmp_path: Path, searches: list[int]
) -> None:
    target, *units = _nodes(poa_graph, 2, 81)
    worker_a = Router(poa_graph, field_store=FieldStore(tmp_path))
    worker_b = Router(poa_graph, field_store=FieldStore(tmp_path))
    alone = Router(poa_graph, field_cache_mb=0)
    free = worker_a.travel_times_to(target, units, "ambulance")
    for router in (worker_a, worker_b, alone):  # each process applies the reading it read from the database
        router.congestion.map_camera("SCENE", *target, radius_m=40)
        router.congestion.apply_reading("SCENE", "closed")
    searches.clear()
    closed = worker_a.travel_times_to(target, units, "ambulance")
    assert len(searches) == 2  # the closure's search as well: another name, never the free one's file
    assert closed != free and any(t.closed_road for t in closed)
    assert (
        worker_b.travel_times_to(target, units, "ambulance")
        == closed
        == alone.travel_times_to(target, units, "ambulance")
    )
    assert len(searches) == 4  # `alone` only
    assert len(list(tmp_path.glob("*.field"))) == 2


def test_a_damaged_file_is_searched_again_and_replaced(
    poa_graph: RoadGraph, tmp_path: Path, searches: list[int]
) -> None:
    target, *units = _nodes(poa_graph, 3, 41)
    Router(poa_graph, field_store=FieldStore(tmp_path)).search_ahead(target, ["rescue"])
    (kept,) = tmp_path.glob("*.field")
    whole = kept.read_bytes()
    header_end = 8 + int.from_bytes(whole[4:8], "little")
    shorter = whole[:header_end].replace(b'"float64", 14351', b'"float64", 14350', 1) + whole[header_end + 8 :]
    damaged_files = (
        whole[: len(whole) // 2],
        b"",
        b"WRF1" + whole[4:60],
        whole.replace(b'"closure"', b'"cl0sure"'),
        shorter,  # reads whole, but its first array is one short of this graph's
    )
    for damaged in damaged_files:
        kept.write_bytes(damaged)
        searches.clear()
        fresh = Router(poa_graph, field_store=FieldStore(tmp_path))
        assert fresh.travel_times_to(target, units, "rescue") == Router(poa_graph).travel_times_to(
            target, units, "rescue"
        )
        assert len(searches) == 2  # fresh searched again (and the router alone)
        assert kept.read_bytes() == whole  # and wrote it again whole


def test_the_store_keeps_to_its_budget(poa_graph: RoadGraph, tmp_path: Path) -> None:
    store = FieldStore(tmp_path, budget_mb=1.0)  # four Porto Alegre searches' worth
    router = Router(poa_graph, field_cache_mb=0, field_store=store)
    abandoned = tmp_path / ".left-by-a-killed-process.tmp"
    abandoned.write_bytes(b"x")
    os.utime(abandoned, (time.time() - 120, time.time() - 120))
    targets = _nodes(poa_graph, 4, 40)
    for target in targets:
        router.search_ahead(target, ["police"])
    store.sweep()
    files = list(tmp_path.iterdir())
    assert 0 < sum(f.stat().st_size for f in files) <= 1e6
    assert len(files) == 4 and all(f.suffix == ".field" for f in files)  # the newest, and no abandoned temporary


def test_a_store_that_cannot_be_written_only_costs_a_search(
    poa_graph: RoadGraph, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_bytes(b"")
    target, *units = _nodes(poa_graph, 5, 21)
    router = Router(poa_graph, field_store=FieldStore(blocked / "fields"))
    assert router.travel_times_to(target, units, "ambulance") == Router(poa_graph).travel_times_to(
        target, units, "ambulance"
    )
    assert router.travel_times_to(target, units, "police") == Router(poa_graph).travel_times_to(target, units, "police")
    warnings = [r for r in caplog.records if r.name == "routing.field_store"]
    assert len(warnings) == 1 and "not kept on disk" in warnings[0].getMessage()  # said once, not per search
