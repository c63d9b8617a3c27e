"""The pool of SIP agents behind Kamailio: many calls at once, a worker killed mid-call, a flood.

A short version of `bench/sip.py --pool`: sipp calls the proxy, Kamailio spreads the calls
over four pjsua2 workers, and every call that was answered must be in GET /api/v1/calls.
"""

from __future__ import annotations

import math
import os
import re
import signal
import struct
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
from live import LiveCentre, PoolProcess, sipp, start_pool, wait_for
from requirements import need_tool
from sip_calls import answered, calls_of, errors_of, sipp_log

from cad.models import Role

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture
def pool(live_centre: LiveCentre) -> Iterator[PoolProcess]:
    need_tool("sipp")
    need_tool("kamailio")
    running = start_pool(live_centre.url, live_centre.instance, 4)
    assert "behind Kamailio" in running.output(), running.output()
    time.sleep(1.5)  # the proxy's first OPTIONS round has seen every worker
    assert "died" not in running.output(), running.output()[-3000:]
    yield running
    assert running.stop() == 0, running.output()[-3000:]
    assert "SIP pool stopped" in running.output()


def test_twelve_calls_at_once_through_four_workers_and_a_worker_killed_mid_call(
    live_centre: LiveCentre, pool: PoolProcess, tmp_path: Path
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    folder = tmp_path / "twelve"
    folder.mkdir()
    result: list[object] = []
    caller = threading.Thread(
        target=lambda: result.append(
            sipp(
                "call_routed.xml",
                f"127.0.0.1:{pool.port}",
                calls=12,
                rate=40,
                limit=12,
                keys={"phone": "081500000012", "caller_name": "Serentak", "hold_ms": "6000"},
                extra=["-trace_logs"],
                cwd=folder,
            )
        )
    )
    caller.start()
    # all twelve held at once: four workers, three lines each
    held = wait_for(lambda: len(answered(folder)) == 12 or None, timeout_s=15)
    assert held, errors_of(folder)[-2000:]
    on_record = wait_for(
        lambda: (lambda cs: cs if len(cs) == 12 else None)(
            [c for c in calls_of(live_centre, token) if c["caller_name"] == "Serentak"]
        )
    )
    assert {c["sip_call_id"] for c in on_record} == answered(folder)
    assert {c["state"] for c in on_record} == {"ringing"}
    pids = pool.worker_pids()
    assert all(pids), pids
    victim_port = pool.port + 1
    victim_calls = set(re.findall(r"sip_call_id\W+([^\"]+)", _journal(live_centre, victim_port)))
    assert len(victim_calls) == 3, victim_calls  # a full worker handed the others on

    os.kill(pids[0], signal.SIGKILL)
    killed_at = time.monotonic()
    back = wait_for(lambda: (p := pool.worker_pids()[0]) and p != pids[0] and p, timeout_s=2)
    restart_s = time.monotonic() - killed_at
    assert back and restart_s < 2.0
    wait_for(lambda: pool.worker_log(0).count("(UDP+TCP)") == 2 or None, timeout_s=10)
    assert f"worker 1 (port {victim_port})" in pool.output() and "died (signal 9)" in pool.output()
    caller.join(40)

    # the calls the dead worker held stay on record, closed as dropped (its restart said it died
    # holding them); the other nine end normally
    def settled() -> list[dict] | None:
        calls = [c for c in calls_of(live_centre, token) if c["caller_name"] == "Serentak"]
        return calls if len(calls) == 12 and all(c["state"] in ("abandoned", "dropped") for c in calls) else None

    calls = wait_for(settled, timeout_s=15)
    assert {c["sip_call_id"] for c in calls} == answered(folder)
    assert {c["sip_call_id"] for c in calls if c["state"] == "dropped"} == victim_calls


def _journal(centre: LiveCentre, port: int) -> str:
    return (centre.instance / "sip-journal" / str(port) / "journal.jsonl").read_text()


def test_a_flood_is_shed_with_503_never_busy_and_every_answered_call_is_on_record(
    live_centre: LiveCentre, pool: PoolProcess, tmp_path: Path
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    folder = tmp_path / "flood"
    folder.mkdir()
    pids = pool.worker_pids()
    run = sipp(
        "call_routed.xml",
        f"127.0.0.1:{pool.port}",
        calls=400,
        rate=200,
        limit=400,
        keys={"phone": "081500000200", "caller_name": "Banjir", "hold_ms": "200"},
        extra=["-trace_logs"],
        timeout_s=40,
        cwd=folder,
    )
    log = sipp_log(folder)
    got_200 = answered(folder)
    shed = len(re.findall(r"SHED 503", log))
    assert shed == len(re.findall(r"SHED 503 \S+ Retry-After: \d+", log))  # told when to try again
    assert not re.search(r"SIP/2.0 (486|4[0-9][0-9])", errors_of(folder)), errors_of(folder)[-2000:]
    assert shed > 0 and got_200, run.stdout[-2000:]
    assert run.returncode == 0, errors_of(folder)[-3000:]  # each call answered or shed, none failed
    assert len(got_200) + shed == 400
    # no worker died (or each came back), and every call that got 200 is on record
    time.sleep(0.5)
    now = pool.worker_pids()
    assert all(now), now
    assert "died" not in pool.output(), pool.output()[-2000:]
    assert now == pids
    recorded = wait_for(
        lambda: (lambda ids: ids if got_200 <= ids else None)(
            {c["sip_call_id"] for c in calls_of(live_centre, token, limit=1000) if c["caller_name"] == "Banjir"}
        ),
        timeout_s=20,
    )
    assert got_200 <= recorded


def _four_calls_to_one_worker(pool: PoolProcess, folder: Path, name: str, hold_ms: int) -> threading.Thread:
    folder.mkdir()
    caller = threading.Thread(
        target=sipp,
        args=("call_routed.xml", f"127.0.0.1:{pool.port}"),
        kwargs={
            "calls": 4,
            "rate": 20,
            "limit": 4,
            "keys": {"phone": "081500000004", "caller_name": name, "hold_ms": str(hold_ms)},
            "extra": ["-trace_logs"],
            "cwd": folder,
        },
    )
    caller.start()
    return caller


def test_when_every_line_is_taken_the_caller_waits_ringing_in_the_queue(
    live_centre: LiveCentre, tmp_path: Path
) -> None:
    need_tool("sipp")
    need_tool("kamailio")
    token = f.api_token(Role.CALL_TAKER)
    announcement = tmp_path / "mohon-tunggu.wav"
    with wave.open(str(announcement), "wb") as wav:  # stands in for "please hold, a call-taker will answer"
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(i / 8000 * 2 * math.pi * 440))) for i in range(8000))
        )
    pool = start_pool(
        live_centre.url, live_centre.instance, 1, extra_env={"WARROOM_SIP_QUEUE_ANNOUNCEMENT": str(announcement)}
    )
    try:
        time.sleep(1.5)
        caller = _four_calls_to_one_worker(pool, tmp_path / "queue", "Antre", 3000)
        waiting = wait_for(
            lambda: (
                len(answered(tmp_path / "queue")) == 3
                and [c for c in calls_of(live_centre, token) if c["state"] == "waiting"]
            ),
            timeout_s=10,
        )
        assert len(waiting) == 1 and waiting[0]["sip_call_id"] not in answered(tmp_path / "queue")
        caller.join(30)
        assert len(answered(tmp_path / "queue")) == 4  # a line freed: the queued caller was taken
        calls = wait_for(
            lambda: (lambda cs: cs if len(cs) == 4 and {c["state"] for c in cs} == {"abandoned"} else None)(
                [c for c in calls_of(live_centre, token) if c["caller_name"] == "Antre"]
            )
        )
        assert {c["sip_call_id"] for c in calls} == answered(tmp_path / "queue")
        assert "SHED" not in sipp_log(tmp_path / "queue")
        early = re.findall(r"EARLY MEDIA (\S+)", sipp_log(tmp_path / "queue"))
        assert early == [waiting[0]["sip_call_id"]]  # the queued caller heard the announcement
        assert "queue announcement playing" in pool.worker_log(0)
    finally:
        assert pool.stop() == 0


def test_when_every_line_is_taken_and_an_overflow_centre_is_set_the_call_is_redirected_there(
    live_centre: LiveCentre, tmp_path: Path
) -> None:
    need_tool("sipp")
    need_tool("kamailio")
    token = f.api_token(Role.CALL_TAKER)
    overflow = "sip:112@pusat-cadangan.example"
    pool = start_pool(live_centre.url, live_centre.instance, 1, extra_env={"WARROOM_SIP_OVERFLOW": overflow})
    try:
        time.sleep(1.5)
        _four_calls_to_one_worker(pool, tmp_path / "moved", "Limpah", 1500).join(30)
        moved = re.findall(r"MOVED 302 (\S+)", sipp_log(tmp_path / "moved"))
        assert len(moved) == 1 and len(answered(tmp_path / "moved")) == 3
        call = wait_for(
            lambda: [c for c in calls_of(live_centre, token) if c["sip_call_id"] == moved[0]] or None, timeout_s=10
        )[0]
        assert call["state"] == "overflowed" and call["phone"] == "+6281500000004"
        assert f"redirected to {overflow}" in pool.worker_log(0)
    finally:
        assert pool.stop() == 0


def test_a_call_kamailio_turns_away_with_every_line_taken_is_still_on_record(
    live_centre: LiveCentre, tmp_path: Path
) -> None:
    """One worker: three lines, the reserved fourth queues a caller; the fifth caller meets a pool
    with no line at all and Kamailio answers 503 itself. That call is on record all the same."""
    need_tool("sipp")
    need_tool("kamailio")
    token = f.api_token(Role.CALL_TAKER)
    pool = start_pool(live_centre.url, live_centre.instance, 1)
    try:
        time.sleep(1.5)
        folder = tmp_path / "full"
        folder.mkdir()
        run = sipp(
            "call_routed.xml",
            f"127.0.0.1:{pool.port}",
            calls=5,
            rate=20,
            limit=5,
            keys={"phone": "081500000005", "caller_name": "Penuh", "hold_ms": "2500"},
            extra=["-trace_logs"],
            cwd=folder,
        )
        shed = re.findall(r"SHED 503 (\S+)", sipp_log(folder))
        assert len(shed) == 1 and len(answered(folder)) == 4, run.stdout[-2000:]
        call = wait_for(
            lambda: [c for c in calls_of(live_centre, token) if c["sip_call_id"] == shed[0]] or None, timeout_s=10
        )[0]
        assert call["state"] == "overflowed" and call["phone"] == "+6281500000005" and call["caller_name"] == "Penuh"
        assert "every agent full" in pool.output()
    finally:
        assert pool.stop() == 0


def test_without_a_proxy_the_pool_says_so_and_each_worker_answers_on_its_own_port(
    live_centre: LiveCentre, tmp_path: Path
) -> None:
    need_tool("sipp")
    token = f.api_token(Role.CALL_TAKER)
    pool = start_pool(live_centre.url, live_centre.instance, 2, proxy=False)
    try:
        assert "NO PROXY fronts them" in pool.output() and "behind Kamailio" not in pool.output()
        assert not (live_centre.instance / "sip-pool" / "kamailio.cfg").exists()
        for index in range(2):
            run = sipp(
                "call.xml",
                f"127.0.0.1:{pool.port + 1 + index}",
                keys={"phone": f"08150000003{index}", "caller_name": f"Langsung {index}", "hold_ms": "100"},
                cwd=tmp_path,
            )
            assert run.returncode == 0, run.stdout[-2000:]
        calls = wait_for(
            lambda: (lambda cs: cs if len(cs) == 2 else None)(
                [c for c in calls_of(live_centre, token) if c["caller_name"].startswith("Langsung")]
            )
        )
        assert {c["caller_name"] for c in calls} == {"Langsung 0", "Langsung 1"}
    finally:
        assert pool.stop() == 0
