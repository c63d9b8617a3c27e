"""`warroom db upgrade`, `demo seed`, tokens; and the migrations build exactly the models' schema."""

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from flask import Flask
from requirements import needs_file

from cad.cli import main
from cad.config import SHARED_DATA
from cad.db import db

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"


def test_migrations_build_the_schema_the_models_describe(app: Flask) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == []


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WARROOM_INSTANCE", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("WARROOM_ROADS", str(ROADS))
    return CliRunner()


@needs_file(ROADS)
def test_upgrade_seed_and_use_the_printed_tokens(cli_env: CliRunner, tmp_path: Path) -> None:
    assert cli_env.invoke(main, ["demo", "seed"]).exit_code != 0  # no schema yet: says so
    upgraded = cli_env.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert (tmp_path / "warroom.sqlite").exists()
    seeded = cli_env.invoke(main, ["demo", "seed"])
    assert seeded.exit_code == 0, seeded.output
    assert "4 agencies" in seeded.output and "30 cameras" in seeded.output
    tokens = dict(line.split() for line in seeded.output.splitlines() if line.startswith("  "))
    assert set(tokens) == {"operator", "dispatcher", "kru", "manajer", "admin"}
    assert "operator / operator112" in seeded.output and "kru / kru112" in seeded.output  # console logins
    again = cli_env.invoke(main, ["demo", "seed"])
    assert again.exit_code != 0 and "already holds a centre" in again.output

    created = cli_env.invoke(main, ["users", "create", "--role", "dispatcher", "siti", "--password", "rahasia"])
    assert created.exit_code == 0, created.output
    device = cli_env.invoke(main, ["units", "token", "HC-01"])
    assert device.exit_code == 0 and device.output.startswith("dev_")
    assert cli_env.invoke(main, ["units", "token", "NOPE-9"]).exit_code != 0

    from cad.app import close_app, create_app

    app = create_app()
    client = app.test_client()
    units = client.get("/api/v1/units", headers={"Authorization": f"Bearer {created.output.strip()}"})
    assert units.status_code == 200
    listed = units.get_json()
    assert 35 <= len(listed) <= 45
    assert {u["type"] for u in listed} == {"fire_engine", "water_tanker", "rescue", "home_care", "ambulance", "police"}
    # placed on the extract: every station inside its bounding box
    for unit in listed:
        assert -1.30 < unit["station"]["lat"] < -1.24 and 116.80 < unit["station"]["lon"] < 116.88
    manager = client.get("/api/v1/units", headers={"Authorization": f"Bearer {tokens['manajer']}"})
    assert manager.status_code == 200

    rotated = cli_env.invoke(main, ["users", "token", "siti"])
    assert rotated.exit_code == 0 and rotated.output.startswith("wr_"), rotated.output
    old_bearer = {"Authorization": f"Bearer {created.output.strip()}"}
    assert client.get("/api/v1/units", headers=old_bearer).status_code == 401  # the old token stopped working
    assert client.get("/api/v1/units", headers={"Authorization": f"Bearer {rotated.output.strip()}"}).status_code == 200
    nobody = cli_env.invoke(main, ["users", "token", "nobody"])
    assert nobody.exit_code != 0 and "no user 'nobody'" in nobody.output
    close_app(app)
