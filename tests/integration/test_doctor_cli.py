"""`warroom doctor` on a real deployment's environment: all OK when it is right, exit 1 with each
FAIL named when it is not."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from cad.cli import main
from cad.services.simulation import mark_demo_centre

SETTINGS = (
    "DATABASE_URL",
    "WARROOM_INSTANCE",
    "SECRET_KEY",
    "WARROOM_ROADS",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM",
    "WARROOM_PUBLIC_URL",
    "WARROOM_SECURE_COOKIES",
    "WARROOM_INTAKE_TOKEN",
    "WARROOM_REPORT_ARCHIVE",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


def tools_on_path(folder: Path, *names: str) -> str:
    folder.mkdir()
    for name in names:
        tool = folder / name
        tool.write_text("#!/bin/sh\nexit 0\n")
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return str(folder)


def doctor(env: dict[str, str]) -> tuple[int, dict[str, list[str]]]:
    result = CliRunner().invoke(main, ["doctor"], env=env)
    lines: dict[str, list[str]] = {}
    for line in result.output.splitlines():
        level, _, rest = line.partition(" ")
        lines.setdefault(rest.strip().split(":")[0], []).append(level)
    return result.exit_code, lines


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_good_deployment_is_all_ok(app: Flask, database_url: str, tmp_path: Path, clean_env: None) -> None:
    instance = tmp_path / "instance"
    (instance / "roads").mkdir(parents=True)
    roads = tmp_path / "city.overpass.json"
    roads.write_text(json.dumps({"version": 0.6, "elements": []}))
    (instance / "roads" / "city-0123456789abcdef.wrcache").write_bytes(b"cache")
    code, lines = doctor(
        {
            "DATABASE_URL": database_url,
            "WARROOM_INSTANCE": str(instance),
            "SECRET_KEY": "s" * 48,
            "WARROOM_ROADS": str(roads),
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "f" * 32,
            "TWILIO_FROM": "+6281100112112",
            "WARROOM_PUBLIC_URL": "https://112.example.go.id",
            "WARROOM_INTAKE_TOKEN": "t" * 40,
            "PATH": tools_on_path(tmp_path / "bin", "kamailio", "sipp"),
        }
    )
    assert code == 0, lines
    assert {"database", "schema", "SECRET_KEY", "roads", "kamailio", "sipp", "Twilio", "public URL", "disk"} <= set(
        lines
    )
    assert {check: levels for check, levels in lines.items() if levels != ["OK"] * len(levels)} == {}


def test_a_broken_deployment_fails_naming_each_problem(tmp_path: Path, clean_env: None) -> None:
    code, lines = doctor(
        {
            "DATABASE_URL": "postgresql://warroom@127.0.0.1:1/warroom",  # nothing listens there
            "WARROOM_INSTANCE": str(tmp_path / "instance"),
            "WARROOM_ROADS": str(tmp_path / "gone.osm.pbf"),
            "TWILIO_ACCOUNT_SID": "AC-from-a-chat-message",
            "TWILIO_AUTH_TOKEN": "f" * 32,
            "WARROOM_PUBLIC_URL": "http://112.example.go.id",
            "WARROOM_SECURE_COOKIES": "1",
            "PATH": tools_on_path(tmp_path / "bin"),
        }
    )
    assert code == 1
    assert {check for check, levels in lines.items() if "FAIL" in levels} == {
        "database",
        "SECRET_KEY",
        "roads",
        "Twilio",
        "public URL",
    }
    assert lines["sipp"] == ["WARN"]


def test_a_demo_centre_needs_no_production_secrets(app: Flask, database_url: str, tmp_path: Path) -> None:
    from cad.db import db

    mark_demo_centre(db.session, "test")
    db.session.commit()
    roads = tmp_path / "city.overpass.json"
    roads.write_text(json.dumps({"elements": []}))
    code, lines = doctor({"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": str(roads)})
    assert code == 0, lines
    assert lines["SECRET_KEY"] == ["OK"] and lines["centre"] == ["OK"]


@pytest.mark.parametrize("url", ["", "not a url", "mysql://warroom@127.0.0.1/warroom"])
def test_a_database_url_that_cannot_be_used_is_a_fail_not_a_traceback(
    url: str, tmp_path: Path, clean_env: None
) -> None:
    code, lines = doctor({"DATABASE_URL": url, "WARROOM_INSTANCE": str(tmp_path)})
    assert code == 1 and lines["database"] == ["FAIL"]
