"""The consoles' security and the API they use: login, roles, CSRF, cookies, audit, linking, places."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import factories as f
import pytest
from console_session import login, token_of
from factories import PASSWORD, person
from flask import Flask
from flask.testing import FlaskClient
from requirements import needs_file

from cad import clock
from cad.config import SHARED_DATA, Settings
from cad.db import db
from cad.models import AuditEntry, Role
from cad.web.security import SLOWDOWN_FIRST_S, SLOWDOWN_MAX_S, slowdown_s

ROADS = SHARED_DATA / "balikpapan_kota.overpass.json"


class Clock:
    """The centre's clock, moved by the test (the app fixture puts the wall clock back)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
        clock.set_clock(lambda: self.at)

    def tick(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def test_login_gives_a_hardened_cookie_and_each_role_its_pages(client: FlaskClient) -> None:
    person(Role.CALL_TAKER, "ani")
    assert client.get("/calltaker").status_code == 302  # nobody logged in: to the login page
    assert client.get("/calltaker").headers["Location"].startswith("/login")
    wrong = client.post("/login", data={"username": "ani", "password": "nope", "csrf_token": token_of(client)})
    assert wrong.status_code == 401 and "ani" not in wrong.get_data(as_text=True).split("<main")[0]
    response = client.post("/login", data={"username": "ani", "password": PASSWORD, "csrf_token": token_of(client)})
    assert response.status_code == 303 and response.headers["Location"] == "/calltaker"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert client.get("/calltaker").status_code == 200
    for forbidden in ("/dispatcher", "/manager", "/admin/audit", "/crew"):
        assert client.get(forbidden).status_code == 403, forbidden
    actions = [(e.username, e.action, e.status) for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
    assert actions == [("ani", "login_failed", 401), ("ani", "login", 303)]


def test_cookies_are_secure_behind_https() -> None:
    settings = Settings.from_env({"WARROOM_PUBLIC_URL": "https://112.example.org"})
    config = settings.flask_config()
    assert config["SESSION_COOKIE_SECURE"] is True and config["REMEMBER_COOKIE_SECURE"] is True
    assert Settings.from_env({"WARROOM_SECURE_COOKIES": "1"}).flask_config()["SESSION_COOKIE_SECURE"] is True
    assert Settings.from_env({}).flask_config()["SESSION_COOKIE_SECURE"] is False


def test_login_only_from_this_site(client: FlaskClient) -> None:
    person(Role.DISPATCHER, "budi")
    data = {"username": "budi", "password": PASSWORD}
    refused = client.post("/login", data=data)
    assert refused.status_code == 403 and refused.get_json()["error"] == {
        "code": "csrf",
        "message": "the CSRF token is missing or wrong: reload the page and try again",
        "field": "csrf_token",
    }
    open_redirect = client.post("/login", data={**data, "csrf_token": token_of(client), "next": "//evil.example/x"})
    assert open_redirect.status_code == 303 and open_redirect.headers["Location"] == "/dispatcher"


def test_session_requests_without_the_csrf_token_are_refused(client: FlaskClient) -> None:
    person(Role.DISPATCHER, "citra")
    token = login(client, "citra")
    body = {"type": "kebakaran", "priority": 1, "address": "Jl. Jenderal Sudirman 5"}
    refused = client.post("/api/v1/incidents", json=body)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf"
    forged = client.post("/api/v1/incidents", json=body, headers={"X-CSRFToken": "forged"})
    assert forged.status_code == 403
    assert client.get("/api/v1/incidents").get_json() == []  # nothing was created
    created = client.post("/api/v1/incidents", json=body, headers={"X-CSRFToken": token})
    assert created.status_code == 201, created.get_json()
    assert client.post("/logout").status_code == 403  # a form without its token
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/api/v1/incidents").status_code == 401  # logged out: the session no longer counts


def test_bearer_clients_need_no_csrf_token_and_are_audited(client: FlaskClient) -> None:
    user, headers = f.user(Role.CALL_TAKER, "dewi")
    created = client.post(
        "/api/v1/incidents", json={"type": "medis", "priority": 2, "address": "Gang Mawar"}, headers=headers
    )
    assert created.status_code == 201
    entry = db.session.query(AuditEntry).one()
    assert (entry.user_id, entry.username, entry.action, entry.target, entry.status) == (
        user.id,
        "dewi",
        "POST api.create_incident",
        "/api/v1/incidents",
        201,
    )
    assert entry.ip == "127.0.0.1"


def test_only_admin_reads_the_audit_log(client: FlaskClient) -> None:
    person(Role.ADMIN, "eka")
    person(Role.MANAGER, "fajar")
    login(client, "fajar")
    assert client.get("/api/v1/audit").status_code == 403
    assert client.get("/manager").status_code == 200
    client.post("/logout", data={"csrf_token": token_of(client, "/manager")})
    login(client, "eka")
    entries = client.get("/api/v1/audit").get_json()
    assert [e["action"] for e in entries][:3] == ["login", "logout", "login"]
    assert entries[0]["username"] == "eka"
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "fajar" in page and "WITA" in page


def test_a_crew_sees_only_its_own_unit(client: FlaskClient) -> None:
    _, headers = f.user(Role.DISPATCHER)
    own = f.unit("DMK-01", lat=-1.2655, lon=116.8405)
    other = f.unit("DMK-02", lat=-1.2500, lon=116.8400)
    person(Role.CREW, "gilang", unit_id=own.id)
    incident = client.post(
        "/api/v1/incidents",
        json={"type": "kebakaran", "priority": 1, "location": {"lat": -1.26, "lon": 116.84}},
        headers=headers,
    ).get_json()
    assert (
        client.post(
            f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": other.id}, headers=headers
        ).status_code
        == 201
    )
    token = login(client, "gilang")
    assert client.get("/crew").status_code == 200
    job = client.get("/api/v1/crew/job").get_json()
    assert job["unit"]["callsign"] == "DMK-01" and job["assignment"] is None and job["incident"] is None
    assert client.get(f"/api/v1/crew/job?unit_id={other.id}").status_code == 403
    assert client.get(f"/api/v1/units/{other.id}/route").status_code == 403
    assert client.get(f"/api/v1/units/{other.id}").status_code == 403
    assert client.get("/api/v1/units").status_code == 403  # the fleet's jobs are not a crew's business
    assert client.get(f"/api/v1/units/{own.id}").get_json()["callsign"] == "DMK-01"
    assert client.get("/api/v1/incidents").status_code == 403
    assert client.get(f"/api/v1/incidents/{incident['id']}").status_code == 403
    assert client.get("/dispatcher").status_code == 403 and client.get("/calltaker").status_code == 403
    moved = client.post(
        f"/api/v1/units/{other.id}/status", json={"status": "acknowledged"}, headers={"X-CSRFToken": token}
    )
    assert moved.status_code == 403
    client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": own.id}, headers=headers)
    job = client.get("/api/v1/crew/job").get_json()
    assert job["incident"]["number"] == incident["number"] and job["assignment"]["callsign"] == "DMK-01"


def test_too_many_wrong_passwords_lock_the_name_from_that_address(client: FlaskClient) -> None:
    person(Role.CALL_TAKER, "hana")
    for _ in range(5):
        token = token_of(client)
        assert client.post("/login", data={"username": "hana", "password": "x", "csrf_token": token}).status_code == 401
    token = token_of(client)
    locked = client.post("/login", data={"username": "hana", "password": PASSWORD, "csrf_token": token})
    assert locked.status_code == 429
    assert db.session.query(AuditEntry).filter_by(action="login_locked").count() == 1


class Seat:
    """A browser at one address, talking to one worker of the centre."""

    def __init__(self, worker: Flask, address: str) -> None:
        self.client = worker.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address

    def login(self, name: str, password: str) -> int:
        data = {"username": name, "password": password, "csrf_token": token_of(self.client)}
        return self.client.post("/login", data=data).status_code


def pauses(*workers: Flask) -> list[float]:
    """The waits the workers' logins make, in order (recorded, not slept)."""
    waited: list[float] = []
    for worker in workers:
        worker.extensions["warroom.login_guard"].pause = waited.append
    return waited


def test_the_lockout_is_counted_once_for_two_workers_by_name_and_address(
    app: Flask, other_worker: Callable[..., Flask]
) -> None:
    now = Clock()
    person(Role.CALL_TAKER, "hana")
    second = other_worker()
    waited = pauses(app, second)
    one, two = Seat(app, "10.1.1.66"), Seat(second, "10.1.1.66")
    assert [seat.login("hana", "guess") for seat in (one, two, one, two, one)] == [401] * 5
    assert waited == []  # a name's own few failures slow nobody
    assert one.login("hana", PASSWORD) == 429 and two.login("Hana", PASSWORD) == 429  # right password, locked pair
    at_her_seat = Seat(second, "10.1.1.7")
    assert at_her_seat.login("hana", PASSWORD) == 303  # another address: never locked, only slowed
    assert waited == [SLOWDOWN_FIRST_S]
    now.tick(app.config["WARROOM"].login_lockout_s - 2)
    assert one.login("hana", PASSWORD) == 429
    now.tick(3)
    assert two.login("hana", PASSWORD) == 303
    assert db.session.query(AuditEntry).filter_by(action="login_locked").count() == 3


def test_guesses_from_many_addresses_only_slow_the_name_down(app: Flask, other_worker: Callable[..., Flask]) -> None:
    Clock()
    person(Role.DISPATCHER, "budi")
    second = other_worker()
    waited = pauses(app, second)
    strangers = [Seat((app, second)[n % 2], f"203.0.113.{n}") for n in range(12)]
    assert [seat.login("budi", "guess") for seat in strangers] == [401] * 12
    assert waited == [0.25, 0.5, 1.0, 2.0, SLOWDOWN_MAX_S, SLOWDOWN_MAX_S, SLOWDOWN_MAX_S]
    assert Seat(app, "10.1.1.8").login("budi", PASSWORD) == 303 and waited[-1] == SLOWDOWN_MAX_S
    assert slowdown_s(4, 5) == 0 and slowdown_s(10_000, 5) == SLOWDOWN_MAX_S


def test_behind_a_proxy_the_lockout_is_by_the_address_it_forwards(other_worker: Callable[..., Flask]) -> None:
    proxied = other_worker(WARROOM_PROXIES="1")
    with proxied.app_context():
        person(Role.CALL_TAKER, "ika")
        db.session.commit()  # this context's session ends with it: the person must outlive it
    proxy = Seat(proxied, "127.0.0.1")
    proxy.client.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9"
    assert [proxy.login("ika", "guess") for _ in range(6)] == [401] * 5 + [429]
    proxy.client.environ_base["HTTP_X_FORWARDED_FOR"] = "10.1.1.9"
    assert proxy.login("ika", PASSWORD) == 303
    with proxied.app_context():
        addresses = {e.ip for e in db.session.query(AuditEntry).filter(AuditEntry.action.startswith("login"))}
    assert addresses == {"198.51.100.9", "10.1.1.9"}


def test_no_page_loads_anything_from_outside_the_app(client: FlaskClient) -> None:
    unit = f.unit("DMK-01", lat=-1.2655, lon=116.8405)
    person(Role.ADMIN, "ika")
    login(client, "ika")
    for path in ("/login", "/calltaker", "/dispatcher", f"/crew?unit={unit.id}", "/manager", "/admin/audit"):
        html = client.get(path).get_data(as_text=True)
        assert re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", html) == [], path
        for asset in re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", html):
            served = client.get(asset)
            served.close()
            assert served.status_code == 200, asset


def test_a_second_call_links_to_the_open_incident_nearby(client: FlaskClient) -> None:
    _, headers = f.user(Role.CALL_TAKER)
    first = client.post(
        "/api/v1/incidents",
        json={"type": "kebakaran", "priority": 1, "location": {"lat": -1.2650, "lon": 116.8400}},
        headers=headers,
    ).get_json()
    medical = client.post(
        "/api/v1/incidents",
        json={"type": "medis", "priority": 2, "location": {"lat": -1.2651, "lon": 116.8401}},
        headers=headers,
    ).get_json()
    client.post(
        "/api/v1/incidents",
        json={"type": "kebakaran", "priority": 1, "location": {"lat": -1.2800, "lon": 116.8400}},  # 1.7 km away
        headers=headers,
    )
    call = client.post(
        "/api/v1/calls",
        json={"phone": "081234567890", "location": {"lat": -1.2660, "lon": 116.8405, "source": "aml"}},
        headers=headers,
    ).get_json()
    nearby = client.get(f"/api/v1/calls/{call['id']}/nearby?type=kebakaran", headers=headers).get_json()
    # the same emergency whatever type it was given: the chosen type first, the others after
    assert [n["number"] for n in nearby] == [first["number"], medical["number"]] and 100 < nearby[0]["distance_m"] < 150
    by_distance = client.get(f"/api/v1/calls/{call['id']}/nearby", headers=headers).get_json()
    assert [n["number"] for n in by_distance] == [medical["number"], first["number"]]
    assert client.get(f"/api/v1/calls/{call['id']}/nearby?type=bogus", headers=headers).status_code == 400
    linked = client.post(f"/api/v1/calls/{call['id']}/link", json={"incident_id": first["id"]}, headers=headers)
    assert linked.status_code == 200 and linked.get_json()["incident_id"] == first["id"]
    again = client.post(f"/api/v1/calls/{call['id']}/link", json={"incident_id": first["id"]}, headers=headers)
    assert again.status_code == 200  # a double click changes nothing
    timeline = client.get(f"/api/v1/incidents/{first['id']}", headers=headers).get_json()["timeline"]
    assert [e["kind"] for e in timeline].count("call_linked") == 1
    assert client.post(f"/api/v1/calls/{call['id']}/link", json={"incident_id": 999}, headers=headers).status_code in (
        404,
        409,
    )
    assert (
        client.post(f"/api/v1/calls/{call['id']}/link", json={"incident_id": "x"}, headers=headers).status_code == 400
    )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@needs_file(ROADS)
def test_address_search_and_road_layer_come_from_the_extract(database_url: str, tmp_path: Path) -> None:
    from cad.app import close_app, create_app

    settings = Settings.from_env(
        {"DATABASE_URL": database_url, "WARROOM_INSTANCE": str(tmp_path), "WARROOM_ROADS": str(ROADS)}
    )
    app: Flask = create_app({"TESTING": True}, settings=settings)
    try:
        with app.app_context():
            client = app.test_client()
            _, headers = f.user(Role.CALL_TAKER)
            found = client.get("/api/v1/places?q=jl%20sudirman", headers=headers).get_json()
            assert found[0]["name"] == "Jalan Jenderal Sudirman" and found[0]["kind"] == "street"
            assert -1.29 < found[0]["lat"] < -1.24 and 116.80 < found[0]["lon"] < 116.88
            halte = client.get("/api/v1/places?q=halte", headers=headers).get_json()[0]
            assert halte["kind"] == "place" and halte["category"] == "bus_stop"
            assert client.get("/api/v1/places?q=", headers=headers).status_code == 400
            assert client.get("/api/v1/places?q=%3Cscript%3E", headers=headers).get_json() == []
            roads = client.get("/api/v1/roads/geojson", headers=headers).get_json()
            assert roads["type"] == "FeatureCollection" and len(roads["features"]) > 1000
            assert any(feature["properties"]["major"] for feature in roads["features"])
    finally:
        close_app(app)


def test_indonesian_by_default_english_on_request_times_in_wita(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="id">' in page and "Kata sandi" in page
    switched = client.post("/language", data={"lang": "en", "next": "/login", "csrf_token": token_of(client)})
    assert switched.status_code == 303 and switched.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and "Password" in page and "Kata sandi" not in page
    client.post("/language", data={"lang": "xx", "csrf_token": token_of(client)})  # unknown: nothing changes
    assert '<html lang="en">' in client.get("/login").get_data(as_text=True)
    person(Role.MANAGER, "joko")
    login(client, "joko")
    assert "WITA" in client.get("/manager").get_data(as_text=True)


def test_every_indonesian_message_is_translated() -> None:
    from babel.messages.pofile import read_po

    from cad.web.i18n import TRANSLATIONS

    for lang in ("id", "en"):  # both catalogues well formed (a merge can drop a `msgstr` line)
        with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalogue = read_po(handle, locale=lang, abort_invalid=True)
    with (TRANSLATIONS / "id" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale="id")
    untranslated = [m.id for m in catalogue if m.id and not m.string]
    assert len(catalogue) > 50 and untranslated == []
    from babel.messages.extract import extract_from_dir

    from cad.config import REPO_ROOT

    method_map = [("cad/web/**.py", "python"), ("cad/web/templates/**.html", "jinja2")]
    in_code = {message for _, _, message, *_ in extract_from_dir(str(REPO_ROOT), method_map)}
    assert in_code - {m.id for m in catalogue} == set()  # run `pybabel extract` and `update` (README)


def test_the_consoles_own_scripts_and_styles_name_no_outside_address() -> None:
    from cad.web.i18n import TRANSLATIONS

    static = TRANSLATIONS.parent / "static"
    own = [*static.glob("js/*.js"), *static.glob("css/*.css")]
    assert len(own) >= 5
    for path in own:
        assert re.findall(r"https?://", path.read_text()) == [], path.name


def test_todays_figures_count_the_local_day_and_time_to_first_unit_on_scene(client: FlaskClient) -> None:
    from datetime import UTC, datetime, timedelta

    from cad import clock
    from cad.services.figures import local_day, today

    start = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # midnight WITA on 24 November
    assert local_day(start + timedelta(hours=5), "Asia/Makassar") == (start, start + timedelta(days=1))
    _, headers = f.user(Role.DISPATCHER)
    units = [f.unit(f"DMK-0{n}", lat=-1.2655, lon=116.8405) for n in (1, 2, 3)]
    clock.set_clock(lambda: start - timedelta(minutes=5))  # yesterday, local time: not counted
    client.post("/api/v1/calls", json={"phone": "081200000001"}, headers=headers)
    for n, arrive_after_s in enumerate((300, 600), start=1):
        t0 = start + timedelta(hours=n)
        clock.set_clock(lambda t0=t0: t0)
        client.post("/api/v1/calls", json={"phone": f"08120000000{n + 1}"}, headers=headers)
        incident = client.post(
            "/api/v1/incidents",
            json={"type": "kebakaran", "priority": 1, "location": {"lat": -1.26, "lon": 116.84}},
            headers=headers,
        ).get_json()
        unit_id = units[n - 1].id
        client.post(f"/api/v1/incidents/{incident['id']}/assignments", json={"unit_id": unit_id}, headers=headers)
        client.post(f"/api/v1/units/{unit_id}/status", json={"status": "en_route"}, headers=headers)
        clock.set_clock(lambda t0=t0, s=arrive_after_s: t0 + timedelta(seconds=s))
        moved = client.post(f"/api/v1/units/{unit_id}/status", json={"status": "on_scene"}, headers=headers)
        assert moved.status_code == 200, moved.get_json()
    client.post("/api/v1/incidents", json={"type": "medis", "priority": 3, "address": "Gang Mawar"}, headers=headers)
    figures = today(db.session, start + timedelta(hours=20), "Asia/Makassar")
    assert (figures.calls, figures.incidents, figures.incidents_open) == (2, 3, 3)
    assert figures.by_type == {"kebakaran": 2, "medis": 1}
    # nearest-rank, as the README's reports: the median of two is the lower one (statistics.median says 450)
    assert (figures.responses, figures.response_median_s, figures.response_p90_s) == (2, 300.0, 600.0)


def test_pages_allow_only_the_apps_own_scripts(client: FlaskClient, app: Flask) -> None:
    from dataclasses import replace

    page = client.get("/login")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "img-src 'self' data:;" in policy
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
    assert "onchange=" not in page.get_data(as_text=True)  # no inline handlers for the policy to refuse
    app.config["WARROOM"] = replace(app.config["WARROOM"], map_tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    assert (
        "img-src 'self' data: https://*.tiles.example.org;" in client.get("/login").headers["Content-Security-Policy"]
    )
