"""The pure parts of a quiet, clean-stopping `warroom serve`: how long a SIP agent's poll is held, which
lines of the children's logs reach the terminal, and a process group stopped whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cad.domain.sip_agents import MAX_HOLD_S, outbox_hold_s
from cad.serve_output import LogEcho
from telephony.lifeline import die_with_parent, group_members, stop_groups


@pytest.mark.parametrize(
    ("asked_s", "silent_s", "held_s"),
    [(25, 10, 5), (1, 10, 1), (0, 10, 0), (-3, 10, 0), (25, 40, 20), (60, 120, MAX_HOLD_S)],
)
def test_a_poll_is_held_at_most_half_the_silence_allowed(asked_s: float, silent_s: float, held_s: float) -> None:
    assert outbox_hold_s(asked_s, silent_s) == held_s


def test_only_warnings_errors_and_tracebacks_of_the_childrens_logs_reach_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "simulator.log"
    log.write_text("2026-12-03 10:00:00,000 ERROR old: from a run before\n")
    echo = LogEcho([log, tmp_path / "sip.log"])  # sip.log does not exist yet
    with log.open("a") as out:
        out.write(
            "2026-12-03 11:00:00,001 INFO simulator.run: 41 vehicles\n"
            "2026-12-03 11:00:01,002 WARNING simulator.run: the centre refused a fix\n"
            "Traceback (most recent call last):\n"
            '  File "x.py", line 1, in <module>\n'
            "ValueError: boom\n"
            "2026-12-03 11:00:02,003 INFO simulator.run: calls 3\n"
            "2026-12-03 11:00:03,004 ERROR simulator.run: half a li"
        )
    (tmp_path / "sip.log").write_text("2026-12-03 11:00:00,005 CRITICAL telephony.supervisor: gone\n")
    echo.read()
    shown = capsys.readouterr().err.splitlines()
    assert shown == [
        "[simulator] 2026-12-03 11:00:01,002 WARNING simulator.run: the centre refused a fix",
        "[simulator] Traceback (most recent call last):",
        '[simulator]   File "x.py", line 1, in <module>',
        "[simulator] ValueError: boom",
        "[sip] 2026-12-03 11:00:00,005 CRITICAL telephony.supervisor: gone",
    ]
    with log.open("a") as out:
        out.write("ne, finished\n")
    echo.read()
    assert capsys.readouterr().err == "[simulator] 2026-12-03 11:00:03,004 ERROR simulator.run: half a line, finished\n"


def test_a_child_dies_with_its_parent_and_its_group_is_stopped_whole(tmp_path: Path) -> None:
    # a parent that starts a child (which starts a grandchild) and is then SIGKILLed
    script = tmp_path / "parent.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "from telephony.lifeline import die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " process_group=0, preexec_fn=die_with_parent())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert group_members(child) == [child]
    parent.kill()
    parent.wait(5)
    parent.stdout.close()
    deadline = time.monotonic() + 5
    while group_members(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(child) == []  # SIGTERM from the kernel when its parent died

    # a group whose leader ignores SIGTERM: killed after the grace
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
        process_group=0,
        preexec_fn=die_with_parent(),
    )
    time.sleep(0.3)
    assert stop_groups([stubborn.pid], grace_s=0.5) == [stubborn.pid]
    assert stubborn.wait(5) == -signal.SIGKILL
    assert os.getpgid(os.getpid()) != stubborn.pid
