"""What building an app does to the process: nothing shared with another app, nothing global.

Two apps in one process (gunicorn's workers are processes, but the tests, the benchmarks and
`other_worker` build several) each hear their own database's changes on their own bus, and
building an app leaves the process's logging to its entry point (wsgi.py, the `warroom` command).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from cad.db import db
from cad.events import Audience, publish_after_commit


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_two_apps_in_one_process_each_hear_their_own_database_on_a_bus_of_their_own(
    app: Flask, other_worker: Callable[..., Flask], sqlite_template: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere.sqlite"
    shutil.copy(sqlite_template, elsewhere)
    other = other_worker(DATABASE_URL=f"sqlite:///{elsewhere}")
    mine, theirs = app.extensions["warroom.bus"], other.extensions["warroom.bus"]
    assert mine is not theirs
    here, there = mine.subscribe(Audience()), theirs.subscribe(Audience())
    try:
        with other.app_context():
            publish_after_commit(db.session, "incident", {"id": 1, "where": "elsewhere"})
            db.session.commit()
        assert there.queue.get_nowait().data == {"id": 1, "where": "elsewhere"}  # handed on at its commit
        publish_after_commit(db.session, "incident", {"id": 1, "where": "here"})
        db.session.commit()
        assert here.queue.get_nowait().data == {"id": 1, "where": "here"}
        time.sleep(1.0)  # the followers (SQLite: a read every 0.2 s) bring nothing of the other database
        assert here.queue.empty() and there.queue.empty()
    finally:
        mine.unsubscribe(here)
        theirs.unsubscribe(there)


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
