"""Password guessing against a real gunicorn with three workers on PostgreSQL: the lockout of a
name from one address is counted once for the whole centre, whichever worker serves each guess,
in the database or in Redis; the same name from another address still logs in."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from limits.storage import RedisStorage
from live import GunicornCentre, start_gunicorn
from requirements import need

from cad.web.security import SLOWDOWN_FIRST_S

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

REDIS_URL = os.environ.get("WARROOM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "kebakaran-112-benar"
LIMIT = 5  # WARROOM_LOGIN_MAX_FAILURES, its default


@pytest.fixture(params=["database", "redis"])
def centre(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[GunicornCentre]:
    env = {
        "DATABASE_URL": database_url,
        "WARROOM_INSTANCE": str(tmp_path),
        "WARROOM_ROADS": "",
        "WARROOM_PROXIES": "1",  # behind HAProxy: the client is the last X-Forwarded-For address
        "SECRET_KEY": "lockout-e2e",
    }
    if request.param == "redis":
        need(RedisStorage(REDIS_URL).check(), f"Redis does not answer at {REDIS_URL} (set WARROOM_TEST_REDIS_URL)")
        env["WARROOM_REDIS_URL"] = REDIS_URL
    gunicorn = start_gunicorn(env, tmp_path, workers=3)
    yield gunicorn
    assert gunicorn.stop() == 0, gunicorn.output()[-3000:]


def _create_user(centre: GunicornCentre, database_url: str, tmp_path: Path) -> str:
    """A dispatcher with a console password, made as an administrator would (`warroom users create`);
    a name of its own, as Redis keeps the counts of earlier runs."""
    name = f"hana-{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "cad.cli", "users", "create", name, "--role", "dispatcher"]
    env = {**os.environ, "DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": ""}
    subprocess.run([*command, "--password", PASSWORD], env=env, check=True, capture_output=True, timeout=60)
    return name


def _address() -> str:
    return f"10.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}.{uuid.uuid4().int % 250 + 1}"


def _login(centre: GunicornCentre, name: str, password: str, address: str) -> tuple[int, float, str]:
    """The console's login form, as a browser at `address` fills it, each request on a connection of
    its own: (status, seconds the POST took, where it sends the browser)."""
    with requests.Session() as browser:
        browser.headers.update({"X-Forwarded-For": address, "Connection": "close"})
        page = browser.get(centre.url + "/login", timeout=30)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and token is not None, page.text[:300]
        started = time.perf_counter()
        answer = browser.post(
            centre.url + "/login",
            data={"username": name, "password": password, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=30,
        )
        return answer.status_code, time.perf_counter() - started, answer.headers.get("Location", "")


def _locked_out_but_not_elsewhere(centre: GunicornCentre, name: str, address: str) -> None:
    status, _, _ = _login(centre, name, PASSWORD, address)
    assert status == 429  # the right password, refused while the pair is locked
    status, took_s, where = _login(centre, name, PASSWORD, _address())
    assert status == 303 and where.endswith("/dispatcher"), (status, where)
    assert took_s >= SLOWDOWN_FIRST_S  # slowed down: the name failed LIMIT times lately, wherever


def test_guesses_sent_at_once_to_three_workers_get_five_tries(
    centre: GunicornCentre, database_url: str, tmp_path: Path
) -> None:
    name, address = _create_user(centre, database_url, tmp_path), _address()
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda n: _login(centre, name, f"guess-{n}", address)[0], range(12)))
    assert sorted(answers) == [401] * LIMIT + [429] * (12 - LIMIT)
    _locked_out_but_not_elsewhere(centre, name, address)
    assert len(set(centre.served_by("POST", "/login"))) >= 2, "one worker served every login: nothing shared"


def test_guesses_one_after_another_get_five_tries_whichever_worker_serves_them(
    centre: GunicornCentre, database_url: str, tmp_path: Path
) -> None:
    name, address = _create_user(centre, database_url, tmp_path), _address()
    answers = [_login(centre, name, f"guess-{n}", address)[0] for n in range(12)]
    assert answers == [401] * LIMIT + [429] * (12 - LIMIT)
    _locked_out_but_not_elsewhere(centre, name, address)
    assert len(set(centre.served_by("POST", "/login"))) >= 2, "one worker served every login: nothing shared"
