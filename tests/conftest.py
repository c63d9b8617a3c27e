"""Fixtures: an app on a fresh database per test, on SQLite and on PostgreSQL.

The schema comes from the migrations (run once per session per backend); each test then
gets a copy of the SQLite file or a truncated PostgreSQL database. PostgreSQL tests skip
with the reason when no server answers, and fail instead when CI=true (tests/requirements.py); a server
without the database WARROOM_TEST_POSTGRES_URL names (`test`) gets it created.

The factories (tests/factories.py) flush; the app's test client commits the test's session before each
request, and `committing_factories` makes them commit for code that reads through its own connections.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from requirements import need

from cad import clock
from cad.app import close_app, create_app
from cad.config import Settings
from cad.db import db

if TYPE_CHECKING:
    from fake_twilio import FakeTwilio
    from live import LiveCentre

PG_ADMIN_URL = os.environ.get("WARROOM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _settings(url: str, instance: Path) -> Settings:
    return Settings.from_env({"DATABASE_URL": url, "WARROOM_INSTANCE": str(instance), "WARROOM_ROADS": ""})


def _upgrade(url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = create_app(settings=_settings(url, instance))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(condition, reason): skip without it, fail when CI=true")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """`requirements.needs` markers, checked before any fixture is made (a demo centre is costly)."""
    for mark in item.iter_markers("needs"):
        need(mark.args[0], mark.kwargs["reason"])


def _postgres_unavailable(reason: str) -> None:
    need(False, f"PostgreSQL not available ({reason}); set WARROOM_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite"
    _upgrade(f"sqlite:///{path}", folder)
    return path


def _create_missing_admin_database(admin: sa.Engine) -> bool:
    """Create the database WARROOM_TEST_POSTGRES_URL names when the server answers but lacks it (a fresh
    PostgreSQL has only `postgres`), through the server's maintenance database; False if it cannot."""
    wanted = admin.url.database
    if not wanted:
        return False
    maintenance = sa.create_engine(admin.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": wanted})
            if exists.first() is not None:
                return False  # it exists: the first error was something else
            quoted = wanted.replace('"', '""')
            try:
                conn.execute(sa.text(f'CREATE DATABASE "{quoted}"'))
            except sa.exc.ProgrammingError as error:
                if getattr(error.orig, "sqlstate", None) != "42P04":  # another session created it first
                    raise
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        maintenance.dispose()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"warroom_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    for attempt in (1, 2):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            break
        except sa.exc.OperationalError as error:
            if attempt == 1 and _create_missing_admin_database(admin):
                continue
            admin.dispose()
            _postgres_unavailable(str(error.orig).strip().splitlines()[0])
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    _upgrade(url, tmp_path_factory.mktemp("pg-instance"))
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        target = tmp_path / "warroom.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    url = str(request.getfixturevalue("postgres_url"))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [t for t in db.metadata.sorted_tables]
        conn.execute(sa.text("TRUNCATE " + ", ".join(t.name for t in tables) + " RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    from live import CommittingClient

    application = create_app({"TESTING": True}, settings=_settings(database_url, tmp_path))
    application.test_client_class = CommittingClient
    with application.app_context():
        yield application
    close_app(application)
    clock.set_clock(None)


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per reverse road search actually run, in any router of this process (one kept in
    memory or found in the field store runs none)."""
    import routing.travel_times

    ran: list[int] = []
    real = routing.travel_times.search_to

    def counted(*args: object, **kwargs: object) -> object:
        ran.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(routing.travel_times, "search_to", counted)
    return ran


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def committing_factories(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row a factory makes is committed as it is made, not only flushed (tests/factories.py):
    for tests whose code under test reads through connections of its own (another thread or
    process, the GPS hot path's own connection)."""
    import factories

    monkeypatch.setattr(factories, "persist", factories.commit)


@pytest.fixture
def served_app(app: Flask, tmp_path: Path, committing_factories: None) -> Iterator[LiveCentre]:
    """The test's own app over real HTTP on a free port, for what only a socket shows (a stream's
    pace, compression). It serves from another thread, through its own connections: the factories
    commit each row while it runs."""
    from live import serve

    yield from serve(app, tmp_path)


@pytest.fixture
def other_worker(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Makes more workers of the same centre: apps of their own (own engine, own process state)
    on the test's database, with extra environment settings (`WARROOM_PROXIES="1"`, …)."""
    from live import CommittingClient

    made: list[Flask] = []

    def make(**env: str) -> Flask:
        settings = Settings.from_env(
            {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path / f"worker{len(made)}"), **env}
        )
        made.append(create_app({"TESTING": True}, settings=replace(settings, roads_path="")))
        made[-1].test_client_class = CommittingClient
        return made[-1]

    yield make
    for worker in made:
        close_app(worker)


@pytest.fixture
def sms_client(database_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    """A test client of a centre that takes Twilio's webhook posts (`fake_twilio.sms`), on its own app."""
    from fake_twilio import PUBLIC, TWILIO_AUTH_TOKEN
    from live import client_with

    env = {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": ""}
    yield from client_with({**env, "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN, "WARROOM_PUBLIC_URL": PUBLIC})


@pytest.fixture
def twilio_api() -> Iterator[FakeTwilio]:
    """A local server speaking Twilio's REST API, for the real twilio.rest.Client."""
    from fake_twilio import TWILIO_AUTH_TOKEN, FakeTwilio

    fake = FakeTwilio("AC" + "1" * 32, TWILIO_AUTH_TOKEN)
    fake.start()
    yield fake
    fake.stop()
