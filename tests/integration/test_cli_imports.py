"""`warroom --help` and each command's help cost no heavy imports: not the road graph's numpy and
scipy, not WeasyPrint, pjsua2 or osmium, not the application itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

HEAVY = ("scipy", "numpy", "shapely", "osmium", "weasyprint", "pjsua2", "cad.app", "flask_migrate", "alembic")

PROBE = """
import json, sys
from cad.cli import main
try:
    main(sys.argv[1:], prog_name="warroom")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def loaded_by(*args: str) -> list[str]:
    env = {**os.environ, "WARROOM_INSTANCE": "/nonexistent-instance"}  # help must not touch it
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_cli_imports_nothing_heavy() -> None:
    assert loaded_by() == []  # main(()) prints the help too


@pytest.mark.parametrize(
    "args", [("--help",), ("serve", "--help"), ("sip", "--help"), ("users", "create", "--help"), ("report", "--help")]
)
def test_help_loads_neither_the_app_nor_the_road_graph(args: tuple[str, ...]) -> None:
    assert loaded_by(*args) == []


def test_the_migration_commands_load_when_used() -> None:
    assert loaded_by("db", "--help") == ["alembic", "flask_migrate"]
