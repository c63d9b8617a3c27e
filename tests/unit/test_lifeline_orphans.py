"""A child's own children are killed once it is gone (Kamailio's workers when its main process was killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from telephony.lifeline import children_of, kill_left_behind


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_what_a_killed_child_forked_is_found_and_killed_after_it() -> None:
    parent = subprocess.Popen(["bash", "-c", "sleep 60 & sleep 60 & wait"])
    deadline = time.monotonic() + 10
    while len(forked := children_of(parent.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(forked) == 2
    parent.kill()  # as a main process killed after its grace: the sleeps are orphans now
    parent.wait(5)
    orphans = [pid for pid, _ in forked]
    assert all(_alive(pid) for pid in orphans)
    assert sorted(kill_left_behind(forked)) == sorted(orphans)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in orphans) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(_alive(pid) for pid in orphans)


def test_a_pid_used_again_by_another_process_is_left_alone() -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        # the same pid with another start time: not the child recorded, never killed
        assert kill_left_behind({(other.pid, "1")}) == []
        assert other.poll() is None
    finally:
        os.kill(other.pid, signal.SIGKILL)
        other.wait(5)
