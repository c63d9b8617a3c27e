"""End-to-end fixtures: the centre served over real HTTP (bare, or the demo city), the SIP agent as its
own process, two centre nodes behind HAProxy, a Chromium for the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from browser_consoles import CHROMIUM_ARGS, TWILIO_TOKEN
from cluster import Cluster, running_cluster
from live import (
    INTAKE_TOKEN,
    AgentProcess,
    DisposablePostgres,
    LiveCentre,
    free_udp_port,
    running,
    serve,
    serve_centre,
    start_agent,
)
from live import (
    demo_centre as serve_demo_centre,
)
from requirements import need, need_tool

from cad.app import create_app
from cad.config import Settings
from cad.db import db


@pytest.fixture(autouse=True)
def _factories_commit(committing_factories: None) -> None:
    """The centre here runs in another thread or process, reading through its own connections: the
    factories commit every row they make (tests/conftest.py's `committing_factories`)."""


@pytest.fixture
def live_centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    yield from serve_centre(database_url, tmp_path)


@pytest.fixture
def demo_centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    """The demo city (its users log in with `cad.demo.DEMO_PASSWORDS`) on the Balikpapan extract, over
    real HTTP, taking Twilio's webhooks signed with `browser_consoles.TWILIO_TOKEN`."""
    yield from serve_demo_centre(database_url, tmp_path, {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN})


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's Chromium, driven by Playwright."""
    need_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def sip_agent(live_centre: LiveCentre) -> Iterator[AgentProcess]:
    need_tool("sipp")
    agent = start_agent(live_centre.url, live_centre.instance, free_udp_port())
    yield agent
    code = agent.stop()
    assert code == 0, agent.output()[-3000:]
    assert "SIP agent stopped" in agent.output()


@pytest.fixture(scope="session")
def disposable_postgres() -> Iterator[DisposablePostgres]:
    need_tool("pg_createcluster")
    need(os.geteuid() == 0, "creating a PostgreSQL cluster needs root (pg_createcluster)")
    cluster = DisposablePostgres.create()
    yield cluster
    cluster.drop()


@pytest.fixture
def stoppable_centre(disposable_postgres: DisposablePostgres, tmp_path: Path) -> Iterator[LiveCentre]:
    """The centre on a PostgreSQL that the test may stop and start again."""
    from flask_migrate import upgrade

    disposable_postgres.start()
    settings = Settings.from_env(
        {
            "DATABASE_URL": disposable_postgres.url,
            "WARROOM_INSTANCE": str(tmp_path),
            "WARROOM_ROADS": "",
            "WARROOM_INTAKE_TOKEN": INTAKE_TOKEN,
            "TWILIO_AUTH_TOKEN": "twilio-e2e",
            "WARROOM_PUBLIC_URL": "https://centre.test",
        }
    )
    app = create_app({"TESTING": True}, settings=settings)
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "TRUNCATE " + ", ".join(t.name for t in db.metadata.sorted_tables) + " RESTART IDENTITY CASCADE"
                )
            )
    yield from serve(app, tmp_path, before_stop=disposable_postgres.start)


@pytest.fixture
def two_nodes(database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """Two centre nodes (gunicorn + scheduler each) on the test's PostgreSQL behind HAProxy running
    deploy/haproxy.cfg (tests/cluster.py); the test itself runs in an app context on that database,
    so the factories make its users and units."""
    need_tool("haproxy")
    env = {"TWILIO_AUTH_TOKEN": "twilio-e2e", "WARROOM_GPS_RATE": "50"}
    with running_cluster(database_url, tmp_path / "cluster", env=env) as cluster:
        settings = Settings.from_env(
            {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": ""}
        )
        for _ in running(create_app({"TESTING": True}, settings=settings)):
            yield cluster
