"""The systemd units and the example settings file in deploy/ are what a deployment installs:
rendered for this checkout they parse, run commands that exist, set only real settings (and every
one a centre needs), and pass `systemd-analyze verify` where systemd is installed."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cad.cli import main
from cad.config import REPO_ROOT

UNITS = REPO_ROOT / "deploy" / "systemd"
ENV_FILE = REPO_ROOT / "deploy" / "warroom.env.example"
#: Where the units expect the checkout, its virtualenv, the settings and the instance folder.
ROOT, VENV, SETTINGS, STATE = (
    "/opt/warroom112",
    "/opt/warroom112/.venv",
    "/etc/warroom112/warroom.env",
    "/var/lib/warroom112",
)
#: What a centre in service cannot do without (README "Deployment").
NEEDED = {
    "DATABASE_URL",
    "SECRET_KEY",
    "WARROOM_INSTANCE",
    "WARROOM_ROADS",
    "WARROOM_INTAKE_TOKEN",
    "WARROOM_CENTRE_URL",
    "WARROOM_PUBLIC_URL",
    "WARROOM_SIP_WORKERS",
}
#: README configuration rows that are no deployment's business.
NOT_FOR_PRODUCTION = {"WARROOM_DATA_DIR"}  # the extracts the demo, tests and benchmarks look for


def render(text: str) -> str:
    """The unit as installed for this checkout and this virtualenv."""
    return text.replace(VENV, sys.prefix).replace(ROOT, str(REPO_ROOT)).replace(SETTINGS, str(ENV_FILE))


def parse(text: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(text)
    return unit


def env_file() -> tuple[dict[str, str], set[str]]:
    """(the settings it sets, those it shows commented out)."""
    set_, shown = {}, set()
    for line in ENV_FILE.read_text().splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            set_[match[1]] = match[2]
        elif match := re.fullmatch(r"#([A-Z][A-Z0-9_]*)=.*", line):
            shown.add(match[1])
    return set_, shown


def settings_read() -> set[str]:
    """Every variable cad/config.py (and gunicorn.conf.py, the web server's) reads."""
    read = set(re.findall(r'env\.get\("([A-Z0-9_]+)"', (REPO_ROOT / "cad" / "config.py").read_text()))
    read |= set(re.findall(r'environ\.get\("([A-Z0-9_]+)"', (REPO_ROOT / "gunicorn.conf.py").read_text()))
    return read


UNIT_FILES = sorted(UNITS.glob("*.service"))


def test_there_is_a_unit_for_the_centre_the_sip_pool_and_the_scheduler() -> None:
    assert {p.name for p in UNIT_FILES} == {
        "warroom-centre.service",
        "warroom-sip.service",
        "warroom-scheduler.service",
    }


@pytest.mark.parametrize("path", UNIT_FILES, ids=lambda p: p.name)
def test_a_unit_runs_as_its_own_user_hardened_and_its_children_die_with_it(path: Path) -> None:
    service = parse(path.read_text())["Service"]
    assert service["User"] == "warroom112" and service["Group"] == "warroom112"
    assert service["EnvironmentFile"] == SETTINGS
    assert service["KillMode"] == "control-group" and service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == STATE and service["StateDirectory"] == "warroom112"
    assert env_file()[0]["WARROOM_INSTANCE"] == STATE  # the one folder it may write is the instance folder
    assert parse(path.read_text())["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("path", UNIT_FILES, ids=lambda p: p.name)
def test_a_units_command_exists_in_this_project(path: Path) -> None:
    unit = parse(render(path.read_text()))
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert Path(argv[0]).is_file(), argv[0]
    program, args = Path(argv[0]).name, argv[1:]
    environment = dict(v.split("=", 1) for v in unit["Service"].get("Environment", "").split() if "=" in v)
    for name in re.findall(r"\$\{(\w+)\}", unit["Service"]["ExecStart"]):
        assert name in env_file()[0] or name in environment, f"{name} is set nowhere"
    if program == "gunicorn":
        module, _, attribute = args[0].partition(":")
        assert re.search(rf"^{attribute} = ", (REPO_ROOT / f"{module}.py").read_text(), re.M)
        assert (REPO_ROOT / args[args.index("--config") + 1]).is_file()
        return
    assert program == "warroom" and "warroom = cad.cli:main" in (REPO_ROOT / "setup.cfg").read_text()
    command: click.Command = main
    options = [a for a in args if a.startswith("--")]
    for word in (a for a in args if not a.startswith(("-", "$"))):
        assert isinstance(command, click.Group) and word in command.commands, f"warroom has no {word}"
        command = command.commands[word]
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    assert set(options) <= known, f"{options} not among {known}"


def test_the_settings_file_sets_only_real_settings_and_every_one_needed() -> None:
    set_, shown = env_file()
    read = settings_read()
    used_by_units = {n for p in UNIT_FILES for n in re.findall(r"\$\{(\w+)\}", p.read_text())}
    assert set(set_) | shown <= read | used_by_units, (set(set_) | shown) - read - used_by_units
    assert set(set_) >= NEEDED
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :].split("\n\n", 2)[2].split("\n\n")[0]
    rows = {n for line in table.splitlines() for n in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])}
    assert len(rows) > 50 and "DATABASE_URL" in rows  # the table as read
    assert rows - NOT_FOR_PRODUCTION <= set(set_) | shown, rows - NOT_FOR_PRODUCTION - set(set_) - shown


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_verifies_the_rendered_units(tmp_path: Path) -> None:
    for path in UNIT_FILES:
        (tmp_path / path.name).write_text(render(path.read_text()))
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
