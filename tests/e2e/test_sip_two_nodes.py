"""Two nodes behind one Kamailio: node A runs Kamailio and its agents, node B runs agents only
(`--agents-only` on 127.0.0.3), and node A's Kamailio dispatches over both (`--remote-agents`).
Node B dies whole (supervisor and agents, SIGKILL): its agents leave the rotation within 2 s, every
call from then on is answered by node A's agents, and the calls node B held are closed on record
as `dropped`, the timeline saying its agent died."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import factories as f
import pytest
import sqlalchemy as sa
from live import LiveCentre, PoolProcess, free_udp_ports, serve_centre, sipp, start_pool, wait_for
from requirements import need_tool
from sip_calls import answered, calls_of, errors_of

from cad.db import db
from cad.models import Role, TimelineEvent

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

WORKERS = 3  # per node
SILENT_S = 6.0  # the centre's WARROOM_SIP_AGENT_SILENT_S for these tests
NODE_B_ADDRESS = "127.0.0.3"


@dataclass
class TwoNodes:
    a: PoolProcess  # Kamailio and three agents
    b: PoolProcess  # three agents only, on 127.0.0.3

    def kill_b(self) -> float:
        """Node B dies as a machine does: its supervisor first (nothing restarts), then every agent.
        Returns the wall-clock time of the death (Kamailio logs its own marks in the same time)."""
        agents = self.b.worker_pids()
        assert all(agents), agents
        os.kill(self.b.process.pid, signal.SIGKILL)
        for pid in agents:
            os.kill(pid, signal.SIGKILL)
        killed_at = time.time()
        self.b.process.wait(10)
        return killed_at

    def proxy_log(self) -> str:
        return (self.a.instance / "sip-pool" / "kamailio.log").read_text(errors="replace")


@pytest.fixture
def centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    yield from serve_centre(database_url, tmp_path, WARROOM_SIP_AGENT_SILENT_S=str(SILENT_S))


def _ports_apart() -> tuple[int, int]:
    """Node A's block (proxy + agents) and node B's, on one host: their agents' RTP ranges (chosen by
    port modulo 100) must not meet, as they would not on two machines."""
    first = free_udp_ports(WORKERS + 1)
    for _ in range(200):
        second = free_udp_ports(WORKERS + 1)
        rtp_a = {(first + i) % 100 for i in range(1, WORKERS + 1)}
        rtp_b = {(second + i) % 100 for i in range(1, WORKERS + 1)}
        if not rtp_a & rtp_b:
            return first, second
    raise RuntimeError("no two blocks of ports apart")


@pytest.fixture
def nodes(centre: LiveCentre, tmp_path: Path) -> Iterator[TwoNodes]:
    need_tool("sipp")
    need_tool("kamailio")
    port_a, port_b = _ports_apart()
    folder_b = tmp_path / "node-b"  # another machine: its own instance folder, journals and logs
    folder_b.mkdir()
    b = start_pool(
        centre.url,
        folder_b,
        WORKERS,
        port=port_b,
        proxy=False,
        extra_env={"WARROOM_NODE": "node-b"},
        args=["--agents-only", "--agent-bind", NODE_B_ADDRESS],
    )
    remote = f"{NODE_B_ADDRESS}:{port_b + 1}-{port_b + WORKERS}"
    try:
        a = start_pool(
            centre.url,
            centre.instance,
            WORKERS,
            port=port_a,
            extra_env={"WARROOM_NODE": "node-a"},
            args=["--remote-agents", remote],
        )
    except BaseException:
        b.stop()
        raise
    two = TwoNodes(a, b)
    try:
        assert "agents only, no proxy here" in b.output(), b.output()
        assert f"{WORKERS} agents of other nodes ({remote})" in a.output(), a.output()
        listing = (centre.instance / "sip-pool" / "dispatcher.list").read_text()
        assert len(listing.splitlines()) == 2 * WORKERS and f"sip:{NODE_B_ADDRESS}:{port_b + 1} " in listing
        # every agent of both nodes in the rotation (one just started may miss its first probe on a
        # loaded machine: it is back at the next)
        agents = [f"sip:127.0.0.1:{port_a + 1 + i}" for i in range(WORKERS)]
        agents += [f"sip:{NODE_B_ADDRESS}:{port_b + 1 + i}" for i in range(WORKERS)]
        time.sleep(1.5)
        wait_for(lambda: all(_rotation(two.proxy_log()).get(a, "up") == "up" for a in agents), timeout_s=15)
        yield two
    finally:
        code_a = a.stop()
        b.stop()
    assert code_a == 0, a.output()[-3000:]


def _agents_of(centre: LiveCentre, token: str, name: str) -> dict[str, str]:
    """sip_call_id → the agent on record for the calls of this caller name."""
    return {c["sip_call_id"]: c["sip_agent"] for c in calls_of(centre, token) if c["caller_name"] == name}


MARK = re.compile(r"WARROOM-AGENT-(DOWN|UP) (\d+\.\d+) ru=(\S+) du=(\S+)")


def _marks(log: str) -> list[tuple[str, float, str]]:
    """Kamailio's event_route[dispatcher:dst-down/up] lines: (agent URI, epoch, "down" or "up"); the
    agent is the probe's request URI, or the destination when a call's timeout took it out."""
    return [(du if du.startswith("sip:") else ru, float(at), way.lower()) for way, at, ru, du in MARK.findall(log)]


def _rotation(log: str) -> dict[str, str]:
    """Each agent's last mark: "down" while it is out of the rotation."""
    return {agent: way for agent, _, way in _marks(log)}


def _down_marks(log: str, since: float) -> dict[str, float]:
    """Agent URI → epoch time it first left the rotation at or after `since`."""
    marks: dict[str, float] = {}
    for agent, at, way in _marks(log):
        if way == "down" and at >= since:
            marks.setdefault(agent, at)
    return marks


def test_a_dead_nodes_agents_leave_the_rotation_within_two_seconds_and_the_other_node_answers_every_call(
    centre: LiveCentre, nodes: TwoNodes, tmp_path: Path
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    before = tmp_path / "before"
    before.mkdir()
    run = sipp(
        "call_routed.xml",
        f"127.0.0.1:{nodes.a.port}",
        calls=2 * WORKERS,
        rate=20,
        limit=2 * WORKERS,
        keys={"phone": "081700000001", "caller_name": "Sebelum", "hold_ms": "300"},
        extra=["-trace_logs"],
        cwd=before,
    )
    assert run.returncode == 0, errors_of(before)[-2000:]
    spread = wait_for(lambda: (a := _agents_of(centre, token, "Sebelum")) and len(a) == 2 * WORKERS and a)
    nodes_used = {agent.split(":")[0] for agent in spread.values()}
    assert nodes_used == {"node-a", "node-b"}, spread  # one rotation over both nodes' agents

    killed_at = nodes.kill_b()
    after = tmp_path / "after"
    after.mkdir()
    run = sipp(
        "call_routed.xml",
        f"127.0.0.1:{nodes.a.port}",
        calls=16,
        rate=8,  # two seconds of calls, from the moment of the death on
        limit=16,
        keys={"phone": "081700000002", "caller_name": "Sesudah", "hold_ms": "300"},
        extra=["-trace_logs", "-trace_rtt", "-rtt_freq", "1"],
        cwd=after,
        timeout_s=40,
    )
    assert run.returncode == 0, errors_of(after)[-2000:] + nodes.proxy_log()[-3000:]
    got = answered(after)
    assert len(got) == 16, run.stdout[-2000:]  # every caller answered: none heard busy, none failed
    on_record = wait_for(lambda: (a := _agents_of(centre, token, "Sesudah")) and set(a) == got and a, timeout_s=15)
    assert {agent.split(":")[0] for agent in on_record.values()} == {"node-a"}, on_record

    marks = _down_marks(nodes.proxy_log(), since=killed_at)
    node_b_agents = {f"sip:{NODE_B_ADDRESS}:{nodes.b.port + 1 + i}" for i in range(WORKERS)}
    assert node_b_agents <= set(marks), nodes.proxy_log()[-3000:]
    left_after = {uri: round(marks[uri] - killed_at, 2) for uri in sorted(node_b_agents)}
    print(f"\nnode B's agents out of Kamailio's rotation after the kill (s): {left_after}")
    assert all(0 <= s < 2.0 for s in left_after.values()), left_after
    rtts = [float(x) for x in re.findall(r"^\d+(?:\.\d+)?;(\d+(?:\.\d+)?);", _rtt(after), re.M)]
    if rtts:  # INVITE to 200 OK per call: those offered to a dead agent before it left waited 2 s more
        print(f"INVITE→200 after the kill (ms): max {max(rtts):.0f}, median {sorted(rtts)[len(rtts) // 2]:.0f}")


def _rtt(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.glob("*_rtt.csv"))


def test_the_calls_a_dead_node_held_are_closed_on_record_as_dropped_and_the_other_nodes_go_on(
    centre: LiveCentre, nodes: TwoNodes, tmp_path: Path
) -> None:
    token = f.api_token(Role.CALL_TAKER)
    folder = tmp_path / "held"
    folder.mkdir()
    caller = threading.Thread(
        target=sipp,
        args=("call_routed.xml", f"127.0.0.1:{nodes.a.port}"),
        kwargs={
            "calls": 2 * WORKERS,
            "rate": 20,
            "limit": 2 * WORKERS,
            "keys": {"phone": "081700000003", "caller_name": "Ditahan", "hold_ms": "20000"},
            "extra": ["-trace_logs"],
            "cwd": folder,
            "timeout_s": 60,
        },
    )
    caller.start()
    held = wait_for(
        lambda: (
            (a := _agents_of(centre, token, "Ditahan")) and len(a) == 2 * WORKERS and set(a) == answered(folder) and a
        ),
        timeout_s=15,
    )
    on_b = {call_id for call_id, agent in held.items() if agent.startswith("node-b:")}
    assert 0 < len(on_b) < len(held), held
    by_sip_id = {c["sip_call_id"]: c["id"] for c in calls_of(centre, token) if c["caller_name"] == "Ditahan"}
    for call_id in by_sip_id.values():  # a call-taker is talking to every caller
        answer = centre.post(f"/api/v1/calls/{call_id}/answer", token)
        assert answer.status_code == 200, answer.text

    killed_at = nodes.kill_b()

    def states() -> dict[str, str]:
        return {c["sip_call_id"]: c["state"] for c in calls_of(centre, token) if c["caller_name"] == "Ditahan"}

    dropped = wait_for(lambda: (s := states()) and {i for i, v in s.items() if v == "dropped"} == on_b and s, 30)
    closed_after = time.time() - killed_at
    print(f"\nnode B's {len(on_b)} answered calls closed as dropped {closed_after:.1f} s after its death")
    assert {v for i, v in dropped.items() if i not in on_b} == {"answered"}  # node A's callers still talking
    # silence counts from the start of each agent's last poll, which the centre held up to SILENT_S / 2
    # (cad.domain.sip_agents.outbox_hold_s), so up to SILENT_S / 2 before the death
    assert SILENT_S / 2 - 0.5 <= closed_after < SILENT_S + 10
    with centre.app.app_context():
        events = db.session.scalars(
            sa.select(TimelineEvent).where(TimelineEvent.kind == "call_dropped").order_by(TimelineEvent.call_id)
        ).all()
        assert sorted(e.call_id for e in events) == sorted(by_sip_id[i] for i in on_b)
        for event in events:
            assert event.data["reason"] == "agent_died" and event.data["by"] == "centre"
            assert event.data["agent"].startswith("node-b:") and event.data["silent_s"] >= SILENT_S
        db.session.remove()
    caller.join(60)
    # node A's callers hung up as usual: their calls ended; node B's stay dropped
    final = wait_for(lambda: (s := states()) and "answered" not in s.values() and s, timeout_s=15)
    assert {i for i, v in final.items() if v == "ended"} == set(held) - on_b
    assert {i for i, v in final.items() if v == "dropped"} == on_b
