"""Two nodes behind one Kamailio, as declared: the other nodes' agents listed, each node's role, and
the dispatcher set and configuration they make (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cad.config import Settings
from telephony.pool import BadAgentList, PoolLayout, RemoteAgent, describe_agents, parse_agents
from telephony.supervisor import BadPool, PoolConfig, dispatcher_entries, pool_config, render_kamailio


def test_each_nodes_agents_are_listed_as_host_and_a_port_range() -> None:
    agents = parse_agents(" 10.0.0.2:5061-5063 , 10.0.0.3:5061,10.0.0.2:5063")
    assert agents == [
        RemoteAgent("10.0.0.2", 5061),
        RemoteAgent("10.0.0.2", 5062),
        RemoteAgent("10.0.0.2", 5063),
        RemoteAgent("10.0.0.3", 5061),
    ]
    assert describe_agents(agents) == "10.0.0.2:5061-5063,10.0.0.3:5061"
    assert parse_agents("") == [] and parse_agents(" , ") == []
    assert parse_agents("sip-b.centre.local:5061-5062")[1].uri == "sip:sip-b.centre.local:5062"


@pytest.mark.parametrize(
    "spec", ["10.0.0.2", "10.0.0.2:", ":5061", "10.0.0.2:50a", "10.0.0.2:5069-5061", "0.0.0.0:5061", "h:1-5000"]
)
def test_an_agent_list_that_cannot_be_read_is_refused_with_the_item(spec: str) -> None:
    with pytest.raises(BadAgentList, match=re.escape(repr(spec.strip()))):
        parse_agents(spec)


def test_the_dispatcher_set_holds_this_nodes_agents_from_loopback_then_the_other_nodes() -> None:
    remote = parse_agents("127.0.0.3:25071-25072")
    assert dispatcher_entries(PoolLayout(25060, 2), remote).splitlines() == [
        "1 sip:127.0.0.1:25061 0 0 socket=udp:127.0.0.1:25060",
        "1 sip:127.0.0.1:25062 0 0 socket=udp:127.0.0.1:25060",
        "1 sip:127.0.0.3:25071 0 0",
        "1 sip:127.0.0.3:25072 0 0",
    ]
    assert dispatcher_entries(PoolLayout(25060, 2), remote, local=False).splitlines() == [
        "1 sip:127.0.0.3:25071 0 0",
        "1 sip:127.0.0.3:25072 0 0",
    ]


def test_kamailio_with_other_nodes_agents_routes_by_the_kernel_and_counts_them_in_the_flood_limit(
    tmp_path: Path,
) -> None:
    listing = tmp_path / "dispatcher.list"
    alone = render_kamailio(PoolConfig(PoolLayout(25060, 4), tmp_path), listing)
    assert "mhomed" not in alone and 'pl_check("pool", "TAILDROP", "80")' in alone
    remote = tuple(parse_agents("10.0.0.2:5061-5064"))
    both = render_kamailio(PoolConfig(PoolLayout(25060, 4), tmp_path, remote_agents=remote), listing)
    assert "\nmhomed=1\n" in both and 'pl_check("pool", "TAILDROP", "160")' in both
    proxy = render_kamailio(PoolConfig(PoolLayout(25060, 4), tmp_path, role="proxy", remote_agents=remote), listing)
    assert 'pl_check("pool", "TAILDROP", "80")' in proxy  # its own four are not run
    for text in (alone, both, proxy):
        assert not re.search(r"\{\{\w+\}\}", text)
        # probes fail within 0.8 s (a dead agent is out within 1.8 s); calls still wait 2 s for an agent
        assert 'modparam("tm", "fr_timer", 800)' in text and "t_set_fr(0, 2000);" in text
        assert "event_route[dispatcher:dst-down]" in text and "WARROOM-AGENT-DOWN" in text


def _settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": "", **env})


def test_a_node_says_its_role_in_the_environment_or_on_the_command_line(tmp_path: Path) -> None:
    plain = pool_config(_settings(tmp_path), 5060, 4)
    assert plain.role == "all" and plain.remote_agents == () and plain.runs_agents and plain.runs_proxy
    agents = pool_config(_settings(tmp_path, WARROOM_SIP_ROLE="agents", WARROOM_SIP_AGENT_BIND="10.0.0.2"), 5060, 4)
    assert agents.role == "agents" and agents.agent_bind == "10.0.0.2" and not agents.runs_proxy
    proxy = pool_config(_settings(tmp_path, WARROOM_SIP_REMOTE_AGENTS="10.0.0.2:5061-5064"), 5060, 0, role="proxy")
    assert not proxy.runs_agents and proxy.runs_proxy and len(proxy.remote_agents) == 4
    overridden = pool_config(
        _settings(tmp_path, WARROOM_SIP_REMOTE_AGENTS="10.0.0.2:5061"), 5060, 2, remote_agents="10.0.0.9:6000-6001"
    )
    assert [a.host for a in overridden.remote_agents] == ["10.0.0.9", "10.0.0.9"]


@pytest.mark.parametrize(
    ("env", "options", "why"),
    [
        ({"WARROOM_SIP_ROLE": "both"}, {}, "one of all, agents, proxy"),
        ({"WARROOM_SIP_ROLE": "agents", "WARROOM_SIP_AGENT_BIND": "0.0.0.0"}, {}, "--agent-bind ADDR"),
        ({}, {"role": "proxy"}, "needs the agents it dispatches to"),
        ({"WARROOM_SIP_REMOTE_AGENTS": "10.0.0.2:5061"}, {"role": "agents"}, "runs no Kamailio"),
        ({"WARROOM_SIP_REMOTE_AGENTS": "10.0.0.2"}, {}, "host:port or host:first-last"),
    ],
)
def test_a_node_that_cannot_run_as_declared_is_told_why(
    tmp_path: Path, env: dict[str, str], options: dict[str, str], why: str
) -> None:
    with pytest.raises(BadPool, match=re.escape(why)):
        pool_config(_settings(tmp_path, **env), 5060, 2, **options)
