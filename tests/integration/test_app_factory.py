"""What building an app does to the process: nothing global. Building an app leaves the
process's logging to its entry point (wsgi.py, the `warroom` command)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

LOGGING_AFTER = """
import logging, sys
{build}
root = logging.getLogger()
print(len(root.handlers), logging.getLevelName(root.level))
"""


def _root_logging_after(build: str, sqlite_template: Path, tmp_path: Path) -> str:
    database = tmp_path / "centre.sqlite"
    shutil.copy(sqlite_template, database)
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "WARROOM_INSTANCE": str(tmp_path / "instance"),
        "WARROOM_ROADS": "",
    }
    done = subprocess.run(
        [sys.executable, "-c", LOGGING_AFTER.format(build=build)],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def test_building_an_app_leaves_the_process_logging_alone(sqlite_template: Path, tmp_path: Path) -> None:
    build = "from cad.app import close_app, create_app\nclose_app(create_app())"
    assert _root_logging_after(build, sqlite_template, tmp_path) == "0 WARNING"  # Python's own default


def test_the_wsgi_entry_point_sets_up_the_centre_logging(sqlite_template: Path, tmp_path: Path) -> None:
    assert _root_logging_after("import wsgi", sqlite_template, tmp_path) == "1 INFO"
