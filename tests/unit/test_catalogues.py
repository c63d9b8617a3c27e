"""The interface's catalogues are compiled by every worker that starts, and gunicorn's workers
start together: writers at the same moment must each leave a whole file and none may fail (one
shared partial file let a worker's rename fail: "Worker failed to boot", the server down)."""

import threading
from pathlib import Path

from babel.messages.mofile import read_mo

from cad.web.i18n import TRANSLATIONS, compile_catalogues


def _start_together(target: Path, workers: int) -> list[Exception]:
    """What each of `workers` threads compiling into `target` at the same moment died of."""
    start, failures = threading.Barrier(workers), []

    def worker() -> None:
        start.wait()
        try:
            compile_catalogues(TRANSLATIONS, target)
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_workers_compiling_at_once_all_succeed_and_leave_whole_catalogues(tmp_path: Path) -> None:
    alone = compile_catalogues(TRANSLATIONS, tmp_path / "alone")  # one worker, nobody else
    expected = {p.relative_to(alone): p.read_bytes() for p in alone.rglob("*.mo")}
    with (alone / "id" / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        assert len(read_mo(handle)) > 100  # the Indonesian interface, every message
    for attempt in range(10):
        target = tmp_path / f"start-{attempt}"
        assert _start_together(target, 6) == []
        assert {p.relative_to(target): p.read_bytes() for p in target.rglob("*.mo")} == expected
        assert sorted(p.name for p in target.rglob("*") if p.is_file()) == sorted(p.name for p in expected)
