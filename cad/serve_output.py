"""What `warroom serve` shows on its terminal: its own start-up lines, warnings and errors.

The access log (a line per HTTP request: the SIP agents' polls, the simulator's GPS fixes, every
console's calls) goes to a file, and so does the INFO chatter of the centre and of the processes
beside it (the SIP intake, the simulator); their warnings and errors still reach the terminal.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from pathlib import Path

from cad.logs import FORMAT

#: A line of our log format at WARNING or above (every process of ours logs with FORMAT).
LOUD = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")


def quiet_logging(logs: Path, *, access_log: bool, verbose: bool) -> None:
    """Werkzeug's access log to `logs/access.log` (stdout with `access_log`), the centre's INFO lines
    to `logs/centre.log` (the terminal with `verbose`); warnings and errors to the terminal always."""
    logs.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.INFO)  # Alembic's logging configuration (read at each upgrade) left it at WARNING
    for handler in root.handlers:
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(logging.Formatter(FORMAT))
            handler.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        centre = logging.FileHandler(logs / "centre.log", encoding="utf-8")
        centre.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(centre)
    import werkzeug.serving

    requests = logging.getLogger("werkzeug")
    requests.setLevel(logging.INFO)
    requests.propagate = False
    if access_log:
        access: logging.Handler = logging.StreamHandler(sys.stdout)
        access.addFilter(lambda record: record.levelno < logging.WARNING)
    else:
        access = logging.FileHandler(logs / "access.log", encoding="utf-8")
    # colour codes only for a person at a terminal, never in a file or a pipe
    werkzeug.serving._log_add_style = access_log and sys.stdout.isatty()  # type: ignore[attr-defined]
    access.setFormatter(logging.Formatter("%(message)s"))
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.WARNING)
    requests.addHandler(access)
    requests.addHandler(terminal)


class LogEcho(threading.Thread):
    """Follows the log files of the processes `warroom serve` started and shows their warnings, errors
    and tracebacks on the terminal, each line prefixed with the file's name. It reads from where each
    file ended when it was made (the files are appended to across runs)."""

    def __init__(self, files: list[Path], every_s: float = 0.5) -> None:
        super().__init__(name="log-echo", daemon=True)
        self.files = files
        self.every_s = every_s
        self._offsets = {f: f.stat().st_size if f.exists() else 0 for f in files}
        self._partial = {f: b"" for f in files}
        self._in_traceback = {f: False for f in files}
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(2)
        self.read()  # what they wrote while stopping

    def run(self) -> None:
        while not self._halt.wait(self.every_s):
            self.read()

    def read(self) -> None:
        for path in self.files:
            try:
                with open(path, "rb") as log:
                    log.seek(self._offsets[path])
                    chunk = log.read()
            except FileNotFoundError:
                continue
            self._offsets[path] += len(chunk)
            *lines, self._partial[path] = (self._partial[path] + chunk).split(b"\n")
            for raw in lines:
                line = raw.decode("utf-8", errors="replace")
                if self._loud(path, line):
                    print(f"[{path.stem}] {line}", file=sys.stderr, flush=True)

    def _loud(self, path: Path, line: str) -> bool:
        if line.startswith("Traceback (most recent call last):"):
            self._in_traceback[path] = True
            return True
        if self._in_traceback[path]:
            self._in_traceback[path] = line[:1].isspace()
            return True  # the frames, and the exception's own line after them
        return bool(LOUD.match(line))
