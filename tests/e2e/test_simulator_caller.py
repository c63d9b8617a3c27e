"""The simulator's SIP caller tells a caller turned away (503: every line of the agent busy; 302: sent
to the overflow centre; either way on record as overflowed) from a failed call, and says why a call
failed in sipp's own words."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from live import SIPP_DIR, free_udp_port, sipp_listener

from simulator.centre import TURNED_AWAY, Caller
from simulator.city import pidf_lo


def place_one_call(target: str) -> tuple[int, str]:
    caller = Caller(target)
    outcomes: list[tuple[int, str]] = []
    pidf = pidf_lo(-1.27, 116.83, 20.0, "+6281200000001@caller.example")
    caller.call("+6281200000001", "Uji Coba", pidf, 0.5, lambda code, why: outcomes.append((code, why)))
    deadline = time.monotonic() + 20
    while not outcomes and time.monotonic() < deadline:
        caller.reap()
        time.sleep(0.05)
    caller.close(wait_s=0)
    assert len(outcomes) == 1, outcomes
    return outcomes[0]


@pytest.mark.parametrize(
    ("status", "turned_away"), [("503", True), ("302", True), ("500", False), ("486", False)], ids=str
)
def test_a_503_or_a_302_is_a_caller_turned_away_anything_else_a_failure_named(
    tmp_path: Path, status: str, turned_away: bool
) -> None:
    port = free_udp_port()
    scenario = tmp_path / "refuse.xml"
    scenario.write_text((SIPP_DIR / "refuse_invite_uas.xml").read_text().replace("STATUS", status))
    far_end = sipp_listener(scenario, port, tmp_path / "far-end.log")
    try:
        code, why = place_one_call(f"127.0.0.1:{port}")
    finally:
        far_end.kill()
        far_end.communicate()
    if turned_away:
        assert (code, why) == (TURNED_AWAY, "")
    else:
        assert code not in (0, TURNED_AWAY)
        assert why.startswith(f"sipp exit {code}") and f"SIP/2.0 {status}" in why, why
