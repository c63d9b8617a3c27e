"""A clone of the repository alone runs: `git clone` of this checkout's committed HEAD into a folder
with no `../shared` beside it, the README's run command (`make run`, a fresh .venv with the runtime
dependencies only), and the demo centre answers with its units on the road extract the repository
carries, and with console logins that work; the terminal stays readable; SIGTERM to the process
group leaves nothing running.

Slow (a fresh virtualenv: about a minute with pip's cache warm, a few without); needs git, make,
npm and the network to PyPI and npm, as `make run` itself does."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import pytest
import requests
from console_session import http_login
from live import require_tool

REPO = Path(__file__).resolve().parents[2]
#: Balikpapan Kota, the bundled extract's bounding box (cad/data/roads/README.md), a little wider
SOUTH, WEST, NORTH, EAST = -1.29, 116.80, -1.24, 116.88
INSTALL_TIMEOUT_S = 900.0
QUIET_WINDOW_S = 20.0
#: lines the running centre may print in QUIET_WINDOW_S once started: a log line now and then, not a
#: request log (the GPS of 41 vehicles and the simulator's polling printed ~8 lines a second)
QUIET_MAX_LINES = 20
#: a terminal's height: the logins must still be on the screen after the quiet window
SCREEN_LINES = 40
TOKEN = re.compile(r"\bwr_[A-Za-z0-9_-]{16,}")
#: the dispatcher's console login as printed: `dispatcher / PASSWORD`, or in a column beside the name
#: (`dispatcher  wr_…` is its API token, not a password)
DISPATCHER_LOGIN = re.compile(r"\bdispatcher\b[ \t/:|]+(?!wr_)([^\s,;|]+)")
#: a Python warning in pip's output (`BuildBackendWarning: …`, `SetuptoolsDeprecationWarning: …`), or
#: setuptools' note that package data would be dropped; pip's own `WARNING:` lines about this machine's
#: index configuration are not ours
OUR_WARNING = re.compile(r"\b[A-Za-z]*Warning\b|would be ignored|absent from the `packages`")


class Output:
    """A process's merged stdout and stderr, line by line, read by a thread, with each line's time."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                with self._lock:
                    self.lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
        except (OSError, ValueError):
            return  # closed under us by close(): the processes were stopped

    def close(self) -> None:
        """After the processes have stopped: the rest of their output, then the pipe closed."""
        self._thread.join(10)
        self._stream.close()

    def text(self, since: float = 0.0) -> str:
        with self._lock:
            return "\n".join(line for at, line in self.lines if at >= since)

    def first(self, text: str) -> float | None:
        """When the first line holding `text` came."""
        with self._lock:
            return next((at for at, line in self.lines if text in line), None)

    def count(self, since: float) -> int:
        with self._lock:
            return sum(1 for at, _ in self.lines if at >= since)

    def tail(self, n: int) -> list[str]:
        with self._lock:
            return [line for _, line in self.lines[-n:]]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The environment of a new user's shell: none of this run's centre settings, virtualenv or paths."""
    dropped = ("DATABASE_URL", "SECRET_KEY", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WARROOM_", "TWILIO_", "PYTEST_")) and key not in dropped
    }
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return env


def _processes_under(folder: Path) -> list[str]:
    """Processes whose command line or executable lies in `folder` (the clone, its .venv)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            exe = os.readlink(entry / "exe")
        except OSError:
            continue  # gone, or not ours to read
        if str(folder) in command or exe.startswith(str(folder)):
            found.append(f"{entry.name}: {command.strip()}")
    return found


def _wait_until_answering(process: subprocess.Popen[bytes], output: Output, url: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < INSTALL_TIMEOUT_S:
        if process.poll() is not None:
            pytest.fail(
                f"`make run` stopped ({process.returncode}) before the centre answered:\n{output.text()[-4000:]}"
            )
        try:
            if requests.get(f"{url}/login", timeout=2).status_code == 200:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        time.sleep(1)
    pytest.fail(f"the centre did not answer within {INSTALL_TIMEOUT_S:.0f} s:\n{output.text()[-4000:]}")


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM to `make run`'s process group (what a terminal's Ctrl-C or a supervisor sends)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return process.poll()
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        return None


def _scripts_of(url: str, browser: requests.Session, page: str) -> dict[str, str]:
    """The scripts a console page loads, by file name, as the browser gets them."""
    html = browser.get(f"{url}{page}", timeout=10)
    assert html.status_code == 200, page
    scripts = {}
    for src in re.findall(r'<script src="([^"]+)"', html.text):
        answer = browser.get(f"{url}{src}", timeout=10)
        assert answer.status_code == 200, src
        scripts[src.rsplit("/", 1)[-1].split("?")[0]] = answer.text
    return scripts


def _group_members(pgid: int) -> list[str]:
    """Live processes of a process group (a zombie is dead, only not yet reaped by its new parent)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so split after the last ')'
        state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            members.append(f"{entry.name}: {stat[: stat.rindex(')') + 1]} {state}")
    return members


def test_a_fresh_clone_runs_the_demo_city_with_units_and_logins(tmp_path: Path) -> None:
    for tool in ("git", "make", "npm"):
        require_tool(tool)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    clone = tmp_path / "fresh" / "warroom"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", "--detach", head.stdout.strip()], check=True)
    assert not (clone.parent / "shared").exists() and list(clone.parent.iterdir()) == [clone]
    assert not (clone / ".venv").exists() and not (clone / "node_modules").exists()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # the README's command; --no-sip: a test must not take the machine's SIP port 5060
    process = subprocess.Popen(
        ["make", "run", f"ARGS=--port {port} --no-sip"],
        cwd=clone,
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, stopped as a whole below
    )
    output = Output(process)
    try:
        started = time.monotonic()
        ready_s = _wait_until_answering(process, output, url)
        ready_at = time.monotonic()
        phases = {"pip done": output.first("npm ci"), "serve starts": output.first("warroom serve")}
        print(
            f"fresh clone: `make run` answered after {ready_s:.0f} s ("
            + ", ".join(f"{name} at {at - started:.0f} s" for name, at in phases.items() if at is not None)
            + ")"
        )

        installing, _, serving = output.text().partition("warroom serve")
        assert "-e ." in installing and "[test]" not in installing, "make run installs the runtime only"
        assert (clone / ".venv" / "bin" / "warroom").exists() and not (clone / ".venv" / "bin" / "pytest").exists()
        ours = [line for line in installing.splitlines() if OUR_WARNING.search(line)]
        assert not ours, "packaging warnings during `make run`'s install:\n" + "\n".join(ours)
        assert "no road extract" not in serving

        logins_file = clone / "instance" / "demo-logins.txt"
        printed = serving + (logins_file.read_text() if logins_file.exists() else "")
        tokens = TOKEN.findall(printed)
        assert tokens, f"no API token printed:\n{serving[-3000:]}"

        units = None
        for token in tokens:
            answer = requests.get(f"{url}/api/v1/units", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            if answer.status_code == 200:
                units = answer.json()
                break
        assert units is not None, "none of the printed tokens reads /api/v1/units"
        assert len(units) >= 30, units
        stations = [u["station"] for u in units if u["station"]]
        assert stations and all(SOUTH < s["lat"] < NORTH and WEST < s["lon"] < EAST for s in stations), (
            "the demo's stations lie in Balikpapan, on the extract the repository carries"
        )

        candidates = DISPATCHER_LOGIN.findall(printed)
        assert candidates, f"no console login printed for the dispatcher:\n{printed[-3000:]}"
        password, browser = next(((p, b) for p in candidates if (b := http_login(url, "dispatcher", p))), ("", None))
        assert browser is not None, f"none of the printed dispatcher logins logs in: {candidates}"
        with browser:
            scripts = _scripts_of(url, browser, "/dispatcher")
        assert "leaflet.js" in scripts, "the map library (npm) is served"
        assert "© OpenStreetMap contributors" in scripts["common.js"], "the map credits OpenStreetMap"

        # the city runs (simulator, GPS): what does the terminal show meanwhile?
        time.sleep(max(0.0, QUIET_WINDOW_S - (time.monotonic() - ready_at)))
        printed_since_ready = output.count(ready_at)
        screen = output.tail(SCREEN_LINES)
    finally:
        status = _stop(process)
        deadline = time.monotonic() + 10
        while (_group_members(process.pid) or _processes_under(clone)) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = sorted(set(_processes_under(clone)) | set(_group_members(process.pid)))
        for line in left:  # clean up after a failure, then report it
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
        output.close()
    assert status is not None, "`make run` did not stop within 30 s of SIGTERM"
    assert not left, "still running 10 s after SIGTERM:\n" + "\n".join(left)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # closed connections may wait in TIME_WAIT
        s.bind(("127.0.0.1", port))  # nobody listens on the centre's port any more
    assert logins_file.exists(), "the demo's logins were not written to instance/demo-logins.txt"
    assert logins_file.stat().st_mode & 0o777 == 0o600, "instance/demo-logins.txt is readable by others"
    shutil.rmtree(clone)  # half a gigabyte of .venv and node_modules; kept only when a check above failed

    print(f"fresh clone: {printed_since_ready} lines on the terminal in the {QUIET_WINDOW_S:.0f} s after it answered")
    quiet = printed_since_ready <= QUIET_MAX_LINES and any(password in line for line in screen)
    assert printed_since_ready <= QUIET_MAX_LINES, (
        f"{printed_since_ready} lines in the {QUIET_WINDOW_S:.0f} s after start:\n" + "\n".join(screen)
    )
    assert quiet, "the console logins have scrolled off the last screen:\n" + "\n".join(screen)
