"""When the centre may call a silent SIP agent dead, and close the calls it held (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cad.domain.calls import AGENT_DIED, CallState, end_state
from cad.domain.sip_agents import AgentHeard, dead_agents, heard_since, listening

T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)
N = 10.0


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def agent(name: str, last: float, since: float, swept: float | None = None) -> AgentHeard:
    return AgentHeard(name, s(last), s(since), None if swept is None else s(swept))


def test_a_run_of_polls_goes_on_while_no_gap_is_longer_than_the_silence_allowed() -> None:
    assert heard_since(None, s(5), N) == s(5)
    assert heard_since(agent("a", 4, 0), s(5), N) == s(0)
    assert heard_since(agent("a", 4, 0), s(14), N) == s(0)  # a gap of exactly N is no break
    assert heard_since(agent("a", 4, 0), s(14.1), N) == s(14.1)


def test_an_agent_silent_longer_than_allowed_is_dead_while_another_is_heard() -> None:
    agents = [agent("node-a:5061", 30, 0), agent("node-b:5071", 19, 0), agent("node-b:5072", 19.5, 0)]
    assert dead_agents(agents, s(29), N) == []
    assert dead_agents(agents, s(29.2), N) == ["node-b:5071"]
    assert dead_agents(agents, s(30), N) == ["node-b:5071", "node-b:5072"]  # longest silent first


def test_a_dead_agent_is_swept_again_each_silence_allowed_and_forgotten_after_an_hour() -> None:
    assert dead_agents([agent("a", 30, 0), agent("b", 19, 0, swept=29.5)], s(30), N) == []
    assert dead_agents([agent("a", 40, 0), agent("b", 19, 0, swept=29.5)], s(39.5), N) == ["b"]  # a late call
    # it came back, polled, and fell silent again: its new calls are closed too
    assert dead_agents([agent("a", 60, 0), agent("b", 45, 40, swept=29.5)], s(60), N) == ["b"]
    assert dead_agents([agent("a", 4000, 0), agent("b", 300, 0)], s(3900), N) == ["b"]
    assert dead_agents([agent("a", 4000, 0), agent("b", 300, 0)], s(3901), N) == []


def test_after_the_centre_was_away_nobody_is_judged_until_the_live_agents_had_time_to_speak() -> None:
    # the centre (or its database) was down from 100 s to 160 s: every agent fell silent at once
    back = [agent("node-a:5061", 160.2, 160.2), agent("node-b:5071", 99.5, 0)]
    assert not listening(back, s(160.5), N)
    assert dead_agents(back, s(160.5), N) == []
    assert dead_agents(back, s(170.1), N) == []  # node-a's run is not N long yet...
    later = [agent("node-a:5061", 170.3, 160.2), agent("node-b:5071", 99.5, 0)]
    assert dead_agents(later, s(170.4), N) == ["node-b:5071"]  # ...now it is, and node-b never came back


def test_nobody_is_judged_by_a_centre_that_hears_no_one() -> None:
    assert dead_agents([agent("a", 5, 0), agent("b", 6, 0)], s(60), N) == []
    assert dead_agents([], s(60), N) == []


def test_a_call_whose_agent_died_is_dropped_whatever_it_was() -> None:
    for state in (CallState.WAITING, CallState.RINGING, CallState.ANSWERED):
        assert end_state(state, AGENT_DIED) is CallState.DROPPED
    assert end_state(CallState.ANSWERED, "bye") is CallState.ENDED
    assert end_state(CallState.RINGING, "cancel") is CallState.ABANDONED
