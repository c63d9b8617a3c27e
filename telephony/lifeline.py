"""Child processes that never outlive the process that started them.

`warroom serve` starts the SIP intake and the simulator, and the SIP supervisor starts Kamailio and
the agents. A parent that is stopped cleanly stops its children itself; one that is SIGKILLed (a
supervisor's timeout, the OOM killer) cannot, and its children would go on holding the SIP ports.
So each child asks the kernel for SIGTERM when its parent dies (Linux `PR_SET_PDEATHSIG`), and
`warroom serve` starts each in a process group of its own, so that a whole tree (the simulator and
its sipp callers, the supervisor with its agents and Kamailio) can be signalled at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Callable, Iterable

PR_SET_PDEATHSIG = 1


def _set_parent_death_signal(signum: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's own stop is all there is
        pass


def die_with_parent(
    signum: int = signal.SIGTERM, unblock: Iterable[int] = (), parent: int | None = None
) -> Callable[[], None]:
    """A `preexec_fn` for `subprocess.Popen`: the child gets `signum` when the parent's starting thread
    ends (start children from the main thread), and `unblock`ed signals it would else inherit blocked.
    `parent` is the parent's pid: a parent that died between fork and prctl is caught too."""
    parent = os.getpid() if parent is None else parent
    stop_signals = tuple(unblock)

    def preexec() -> None:
        if stop_signals:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
        _set_parent_death_signal(signum)
        if os.getppid() != parent:  # the parent died before the kernel knew to tell us
            os.kill(os.getpid(), signum)

    return preexec


def group_alive(pgid: int) -> bool:
    """Whether any process (not yet reaped) is left in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """The live processes of group `pgid` (zombies excluded), read from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:  # state, ppid, pgrp
            found.append(int(entry))
    return found


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command (state first), None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children_of(pid: int) -> set[tuple[int, str]]:
    """The live children of `pid`, each as (pid, start time): the start time tells a reused pid apart."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[1]) == pid:  # state, ppid
                found.add((int(entry), fields[19]))  # starttime
    return found


def kill_left_behind(children: Iterable[tuple[int, str]]) -> list[int]:
    """SIGKILL to those of `children` (from `children_of`) still alive once their parent is gone: Kamailio's
    workers outlive a main process that was killed, or that ended before they did. Returns the pids killed."""
    killed = []
    for pid, started in children:
        fields = _stat(pid)
        if fields is not None and fields[0] != "Z" and fields[19] == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


def stop_groups(pgids: Iterable[int], grace_s: float = 10.0, poll_s: float = 0.05) -> list[int]:
    """SIGTERM to every process still in the groups, then SIGKILL to whatever is left after `grace_s`.
    Returns the groups that had to be killed."""
    pgids = list(pgids)
    for pgid in pgids:
        _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(group_members(p) for p in pgids):
        time.sleep(poll_s)
    killed = [p for p in pgids if group_members(p)]
    for pgid in killed:
        _signal_group(pgid, signal.SIGKILL)
    return killed


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
