"""The dispatcher chooses any capable unit, not only the best few, in a real browser (Debian's
Chromium driven by Playwright): twelve fire engines for a P1 fire whose only access a camera
reports closed; the tenth is dispatched; the one measured from its station says how old its GPS
is; ETAs read in minutes and seconds; the crew's phone shows where the vehicle stops and that
the way on is closed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import closed_scene as town
import factories as f
import pytest
import requests
from browser_consoles import artefacts, console
from live import LiveCentre, serve_centre

from cad.db import db
from cad.models import Camera, Role

ETA = re.compile(r"\d+ mnt \d+ dtk")

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def centre(database_url: str, tmp_path: Path) -> Iterator[LiveCentre]:
    """The closed-road town (tests/closed_scene.py) over real HTTP."""
    yield from serve_centre(database_url, tmp_path, WARROOM_ROADS=str(town.write_extract(tmp_path)))


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_any_of_twelve_units_can_be_sent_and_the_closed_road_is_on_screen(
    centre: LiveCentre,
    browser: Any,
    backend: str,
) -> None:
    # Eleven fire engines along Jalan Utama, nearer the junction first; the twelfth's GPS is 14
    # minutes old, so it is measured from its station at the west end: the farthest of all.
    west_post = f.station("Pos Barat", lat=town.WEST[0], lon=town.WEST[1])
    units = [
        f.unit(f"DMK-{i + 1:02d}", lat=town.LAT0, lon=town.LON0 + 0.0038 - 0.0003 * i, home=west_post)
        for i in range(11)
    ]
    units.append(f.unit("DMK-12", lat=town.LAT0, lon=town.LON0 + 0.0039, fix_age_s=14 * 60, home=west_post))
    tenth = units[9]
    f.user(Role.DISPATCHER, name="petugas", password="rahasia-dispatch")
    f.user(Role.CREW, name="kru10", unit=tenth, password="rahasia-kru")
    _, api = f.user(Role.DISPATCHER)
    lat, lon = town.CAMERA
    db.session.add(Camera(code="CAM-BUNTU", name="Jalan Buntu", lat=lat, lon=lon, radius_m=town.CAMERA_RADIUS_M))
    db.session.commit()
    closed = requests.post(
        centre.url + "/api/v1/cameras/CAM-BUNTU/congestion", json={"level": "closed"}, headers=api, timeout=10
    )
    assert closed.status_code == 201, closed.text
    scene = {"lat": town.SCENE[0], "lon": town.SCENE[1], "accuracy_m": 10}
    created = requests.post(
        centre.url + "/api/v1/incidents",
        json={"type": "kebakaran", "priority": 1, "location": scene, "address": "Jalan Buntu Dalam 7"},
        headers=api,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    ranked = requests.get(
        f"{centre.url}/api/v1/incidents/{created.json()['id']}/recommendations", headers=api, timeout=10
    ).json()["recommendations"]
    walk = f"jalan ditutup: berjalan {round(ranked[0]['walk_m'])} m"
    assert abs(ranked[0]["walk_m"] - town.WALK_M) < 5

    errors: list[str] = []
    shots = artefacts() / backend
    shots.mkdir(parents=True, exist_ok=True)
    dispatcher = console(
        browser, centre, "petugas", errors, password="rahasia-dispatch", viewport={"width": 1400, "height": 900}
    )
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
    crew = console(browser, centre, "kru10", errors, password="rahasia-kru", **phone)
    dispatcher.locator(f"#queue tbody tr[data-number='{number}']").click()
    rows = dispatcher.locator("#recommendations tr[data-unit]")
    callsigns = "td:first-child b"
    best = ["DMK-01", "DMK-02", "DMK-03", "DMK-04", "DMK-05"]
    expect(rows.locator(callsigns)).to_have_text(best)  # the console asks for the best five only
    toggle = dispatcher.locator("#all-units")
    expect(toggle).to_have_text("Semua unit (12)")  # of `total`
    toggle.click()  # asks for every one (`limit=all`)
    expect(rows).to_have_count(12)
    expect(rows.filter(visible=True)).to_have_count(12)
    expect(rows.locator(callsigns)).to_have_text([u.callsign for u in units])
    dispatcher.screenshot(path=str(shots / "dispatcher-all-units.png"), full_page=True)

    # every row: ETA to the second, the closed road and the walk
    expect(rows.locator(".eta")).to_have_text([ETA] * 12)
    expect(rows.locator(".rec-closed")).to_have_text([walk] * 12)
    stale = dispatcher.locator("#recommendations tr[data-unit='DMK-12']")
    expect(stale.locator(".rec-station")).to_have_text("dari pos — GPS 14 mnt lalu")
    expect(dispatcher.locator("#recommendations tr[data-unit='DMK-01'] .rec-station")).to_have_count(0)

    dispatcher.click("#recommendations button.dispatch[data-unit='DMK-10']")
    dispatcher.locator(f"#queue tbody tr[data-number='{number}'] [data-unit='DMK-10']").wait_for()
    dispatcher.locator("#recommendations tr[data-unit='DMK-10']").wait_for(state="detached")
    expect(dispatcher.locator("#recommendations tr[data-unit]")).to_have_count(11)
    expect(dispatcher.locator("#all-units")).to_have_text("Unit terbaik saja")  # the list stays open
    expect(
        dispatcher.locator("#recommendations tr[data-unit='DMK-11']")
    ).to_be_visible()  # the board may redraw meanwhile

    crew.locator("#job-title", has_text=number).wait_for()
    access = crew.locator("#route-access")
    expect(access).to_contain_text(walk)
    expect(access).to_contain_text("Jalan Buntu")
    expect(access).to_contain_text(f"{town.JUNCTION[0]:.5f}, {town.JUNCTION[1]:.5f}")  # where the vehicle stops
    expect(crew.locator("#route-info")).to_contain_text(ETA)
    crew.click("button.move[data-status='acknowledged']")  # a refresh keeps the route and the reason
    crew.locator("#unit-status.st-acknowledged").wait_for()
    expect(crew.locator("#route-access")).to_contain_text(walk)
    crew.screenshot(path=str(shots / "crew-closed-road.png"), full_page=True)
    assert errors == []
