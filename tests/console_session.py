"""A console session: through Flask's test client (a page's CSRF token, and logging in through the
login form as a user the factories made with a password, `factories.person`), or over real HTTP
as a browser does (`http_login`)."""

from __future__ import annotations

import re

import requests
from factories import PASSWORD
from flask.testing import FlaskClient


def token_of(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the form on `path`."""
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    """Logs in through the form; returns the session's CSRF token."""
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token_of(client)})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return token_of(client, "/login")


def http_login(url: str, username: str, password: str = PASSWORD) -> requests.Session | None:
    """A browser's session logged in over HTTP through the login form (its CSRF token, then the
    post) at the centre on `url`, or None when the login is refused."""
    browser = requests.Session()
    form = browser.get(f"{url}/login", timeout=10).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None, form[:2000]
    answer = browser.post(
        f"{url}/login",
        data={"csrf_token": csrf.group(1), "username": username, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    if answer.status_code != 303:
        browser.close()
        return None
    return browser
