"""The crew's phone and the manager's pages in a real browser (Debian's Chromium driven by Playwright).

The crew phone at 412×915: the job's title, address, navigation links and route are on screen
without scrolling, the status buttons sit in a bar fixed to the bottom with the next move first and
largest, and a new job vibrates the phone and beeps once the crew turned the sound on. The manager
picks a period and the figures and charts follow, downloads the period's PDF in the language the
page is read in, and finds a PDF the scheduler archived on the archive page. Screenshots per role
and viewport go to $WARROOM_TEST_ARTIFACTS (default tests/artifacts/), per database."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import factories as f
import pytest
import requests
from browser_consoles import ROADS, artefacts, console
from live import LiveCentre
from playwright.sync_api import expect
from requirements import need_tool, needs_file

from cad.db import db
from cad.domain.incidents import IncidentStatus, IncidentType
from cad.domain.timeline import EventKind
from cad.models import Incident, Role, Unit
from cad.timeline import record_event

pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True),
    needs_file(ROADS),
]
PHONE = {"viewport": {"width": 412, "height": 915}, "is_mobile": True, "has_touch": True}
SPIES = """() => {
    window.__vibrations = [];
    Object.defineProperty(navigator, "vibrate", {
        configurable: true, value: (pattern) => { window.__vibrations.push(pattern); return true; },
    });
    window.__tones = 0;
    const create = AudioContext.prototype.createOscillator;
    AudioContext.prototype.createOscillator = function () { window.__tones += 1; return create.call(this); };
}"""


#: Scrolled to its end, the page's last part (the map, below the "cannot go" box) clears the status bar.
MAP_CLEARS_THE_BAR = """() => {
    window.scrollTo(0, document.documentElement.scrollHeight);
    const map = document.querySelector("#map").getBoundingClientRect();
    return map.bottom <= document.querySelector("#moves").getBoundingClientRect().top + 1;
}"""


SETTLED_BOXES = """(selectors) => {
    const info = document.querySelector("#route-info");
    if (!info || !info.textContent.includes("km")) return false;
    return selectors.map((selector) => {
        const node = document.querySelector(selector);
        if (!node) return null;
        const r = node.getBoundingClientRect();
        return { y: r.y, height: r.height, width: r.width };
    });
}"""


def _api(at: LiveCentre, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = requests.request(
        method, at.url + "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).first.bounding_box()
    assert found is not None, f"{selector} is not shown"
    return dict(found)


def test_the_crew_phone_shows_the_job_above_the_fold_and_alerts_a_new_job(
    demo_centre: LiveCentre,
    browser: Any,
    backend: str,
) -> None:
    unit = db.session.query(Unit).filter_by(callsign="DMK-01").one()
    dmk, spot = unit.id, {"lat": unit.lat + 0.004, "lon": unit.lon + 0.004}
    token = f.api_token(Role.DISPATCHER)
    db.session.remove()
    shots = artefacts() / backend
    shots.mkdir(exist_ok=True)
    errors: list[str] = []
    crew = console(browser, demo_centre, "kru", errors, **PHONE)
    expect(crew.locator("#no-job")).to_be_visible()
    sound = crew.locator("#sound-toggle")
    expect(sound).to_be_visible()
    expect(sound).to_have_text("Aktifkan suara")  # off until the crew taps it
    expect(crew.locator("#moves")).to_be_hidden()  # no job (the page's answer is on screen): no status bar
    crew.evaluate(SPIES)
    sound.click()  # the tap that lets the page make sound; it plays the alert once
    crew.locator("#sound-toggle[aria-pressed=true]", has_text="Suara aktif").wait_for()
    assert crew.evaluate("window.__tones") == 3 and crew.evaluate("window.__vibrations") == []
    crew.evaluate("window.__tones = 0")

    # a job arrives: the phone vibrates and beeps without the crew touching it
    incident = _api(
        demo_centre,
        token,
        "POST",
        "/incidents",
        {
            "type": "kebakaran",
            "priority": 1,
            "location": spot,
            "address": "Jalan Jenderal Sudirman 12",
            "description": "Asap tebal dari lantai dua ruko, dua orang masih di dalam, pintu belakang terkunci. " * 3,
        },
    )
    _api(demo_centre, token, "POST", f"/incidents/{incident['id']}/assignments", {"unit_id": dmk})
    crew.locator("#job-title", has_text=incident["number"]).wait_for()
    crew.wait_for_function("() => window.__vibrations.length === 1 && window.__tones === 3")
    assert crew.evaluate("window.__vibrations") == [[400, 150, 400, 150, 400]]
    crew.locator("#route-info", has_text="km").wait_for()

    # everything needed to drive off is on screen without scrolling, above the status bar
    assert crew.evaluate("[window.scrollY, document.documentElement.scrollWidth]") == [0, 412]
    bar = box(crew, "#moves")
    assert bar["y"] + bar["height"] == pytest.approx(915, abs=1) and bar["width"] == pytest.approx(412, abs=1)
    above = ("#job-title", "#job-address", "#nav-geo", "#navigate a[data-site='OSM']", "#route-info")
    boxes = crew.wait_for_function(SETTLED_BOXES, arg=list(above)).json_value()  # one look: a refresh may redraw
    for selector, shown in zip(above, boxes, strict=True):
        assert shown is not None, selector
        assert shown["height"] > 0 and shown["y"] >= 0 and shown["y"] + shown["height"] <= bar["y"], (selector, shown)
    geo = f"geo:{spot['lat']:.6f},{spot['lon']:.6f}"
    expect(crew.locator("#nav-geo")).to_have_attribute("href", re.compile("^" + re.escape(geo)))
    google = f"https://www.google.com/maps/dir/?api=1&destination={spot['lat']:.6f},{spot['lon']:.6f}"
    expect(crew.locator("#navigate a[data-site='Google Maps']")).to_have_attribute("href", google)

    # the next sensible move first and largest, the other beside it; both inside the bar
    buttons = crew.locator("#moves button.move:visible")
    expect(buttons).to_have_count(2)
    expect(buttons.nth(0)).to_have_attribute("data-status", "acknowledged")
    expect(buttons.nth(0)).to_have_class(re.compile(r"\bnext\b"))
    first, second = buttons.nth(0).bounding_box(), buttons.nth(1).bounding_box()
    assert first["width"] > 1.5 * second["width"] and first["height"] >= second["height"]
    assert first["y"] >= bar["y"] and second["y"] >= bar["y"]
    crew.screenshot(path=str(shots / "crew-412x915-job.png"))
    crew.screenshot(path=str(shots / "crew-412x915-job-full.png"), full_page=True)

    # the page scrolls under the bar, and its end (the map, below the "cannot go" box) still clears it
    expect(crew.locator("#cannot-go")).to_be_visible()
    crew.wait_for_function(MAP_CLEARS_THE_BAR)  # the page may still grow (route, notices): it scrolls again
    crew.evaluate("window.scrollTo(0, 0)")

    # moving on: the bar's first button is the next move each time (a fire engine is free after the scene)
    for status, expected_next in (("acknowledged", "en_route"), ("en_route", "on_scene"), ("on_scene", "available")):
        crew.click(f"#moves button.move.next[data-status='{status}']")
        crew.locator(f"#unit-status.st-{status}").wait_for()
        crew.locator(f"#moves button.move.next[data-status='{expected_next}']").wait_for()
        expect(crew.locator("#moves button.move:visible").first).to_have_attribute("data-status", expected_next)
    assert crew.evaluate("window.__vibrations.length") == 1  # the crew's own moves are not new jobs
    crew.screenshot(path=str(shots / "crew-412x915-on-scene.png"))
    crew.click("#moves button.move[data-status='available']")
    crew.locator("#no-job").wait_for()

    small = console(browser, demo_centre, "kru", errors, viewport={"width": 360, "height": 740}, is_mobile=True)
    small.screenshot(path=str(shots / "crew-360x740-no-job.png"))
    assert errors == []


def _old_incident(day: datetime, unit_id: int) -> None:
    """An incident long ago, answered by `unit_id` 420 s after the call: a period of its own."""
    row = Incident(
        number="MKS-20250615-0001",
        type=IncidentType("medis"),
        priority=2,
        status=IncidentStatus.CLOSED,
        created_at=day,
        district="Balikpapan Kota",
    )
    db.session.add(row)
    db.session.flush()
    record_event(db.session, EventKind.CALL_RECEIVED, actor="test", at=day, incident_id=row.id)
    stamps = (("unit_assigned", 55), ("unit_notified", 60), ("unit_en_route", 90), ("unit_on_scene", 420))
    for kind, seconds in stamps:
        at = day + timedelta(seconds=seconds)
        record_event(db.session, EventKind(kind), actor="test", at=at, incident_id=row.id, unit_id=unit_id)
    db.session.commit()


def _pdf_text(page: Any, href: str, tmp_path: Path) -> str:
    response = page.request.get(page.url.split("/manager")[0] + href)
    assert response.ok and response.body().startswith(b"%PDF")
    pdf = tmp_path / "period.pdf"
    pdf.write_bytes(response.body())
    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_the_manager_picks_a_period_and_finds_the_archived_reports(
    demo_centre: LiveCentre,
    browser: Any,
    backend: str,
    tmp_path: Path,
) -> None:
    need_tool("pdftotext")
    from cad.services.reports import report_config
    from reports.archive import PeriodKind, archive_report, last_complete

    unit = db.session.query(Unit).filter_by(callsign="DMK-02").one()
    _old_incident(datetime(2025, 6, 15, 2, 0, tzinfo=UTC), unit.id)  # 15 June 2025, 10:00 WITA
    token = f.api_token(Role.DISPATCHER)
    for n in range(2):
        _api(demo_centre, token, "POST", "/incidents", {"type": "medis", "priority": 3, "address": f"Gang Mawar {n}"})
    settings = demo_centre.app.config["WARROOM"]
    now = datetime.now(UTC)
    archived = archive_report(db.engine, PeriodKind.WEEKLY, now, report_config(settings), settings.report_archive_path)
    assert archived is not None and archived.name == last_complete(PeriodKind.WEEKLY, now, settings.timezone).filename
    db.session.remove()
    shots = artefacts() / backend
    shots.mkdir(exist_ok=True)
    errors: list[str] = []
    manager = console(browser, demo_centre, "manajer", errors, viewport={"width": 1280, "height": 900})

    # today: the two incidents of the day; the charts of the PDF drawn on the page
    manager.locator("h1", has_text="Hari ini").wait_for()
    expect(manager.locator("#fig-incidents b")).to_have_text("2")
    expect(manager.locator("#charts svg")).to_have_count(3)
    expect(manager.locator("#charts svg title").first).to_have_text(re.compile(r"^Sebaran: Respons total"))
    manager.screenshot(path=str(shots / "manager-1280x900-today.png"), full_page=True)

    # this month, then a range of days: the figures and the charts follow the period
    manager.click("#periods a.period[data-period='month']")
    manager.locator("h1", has_text="Bulan ini").wait_for()
    expect(manager.locator("#fig-incidents b")).to_have_text("2")
    manager.fill("#range-from", "2025-06-15")
    manager.fill("#range-to", "2025-06-15")
    manager.click("#range-show")
    manager.locator("h1", has_text="Rentang tanggal").wait_for()
    expect(manager.locator("#period-days")).to_have_text("15-06-2025")
    expect(manager.locator("#fig-incidents b")).to_have_text("1")
    expect(manager.locator("#fig-median b")).to_have_text("7.0")  # 420 s from the call to the first unit
    bars = manager.evaluate(
        """() => [...document.querySelectorAll("#charts svg")[0].querySelectorAll("rect[fill='#c0392b']")]
            .map((bar) => Number(bar.getAttribute("height")))"""
    )
    assert len(bars) == 21 and [m for m, height in enumerate(bars) if height > 0] == [7]  # the 7th minute
    manager.screenshot(path=str(shots / "manager-1280x900-range.png"), full_page=True)

    # the period's PDF and CSV, with headings in the page's language (Indonesian, then English)
    pdf_href = manager.locator("#report-pdf").get_attribute("href")
    assert "from=2025-06-14T16%3A00%3A00Z" in pdf_href and "to=2025-06-15T16%3A00%3A00Z" in pdf_href
    text = _pdf_text(manager, pdf_href, tmp_path)
    assert "Waktu respons" in text and "1 kejadian" in text and "Response times" not in text
    csv = manager.request.get(demo_centre.url + manager.locator("#report-csv").get_attribute("href")).text()
    assert csv.startswith("dimensi,kunci,tingkat,") and "all,all,incident,response,1,420.0," in csv
    manager.select_option("header select[name=lang]", "en")
    manager.locator("h1", has_text="Date range").wait_for()
    expect(manager.locator("#charts svg title").first).to_have_text(re.compile(r"^Distribution: Total response"))
    text = _pdf_text(manager, manager.locator("#report-pdf").get_attribute("href"), tmp_path)
    assert "Response times" in text and "1 incidents" in text and "Waktu respons" not in text
    english_csv = manager.request.get(demo_centre.url + manager.locator("#report-csv").get_attribute("href")).text()
    assert english_csv.startswith("dimension,key,level,")
    manager.select_option("header select[name=lang]", "id")
    manager.locator("h1", has_text="Rentang tanggal").wait_for()

    # the archive: the PDF archived above, with a download that is that file
    manager.click("#archive-link")
    row = manager.locator(f"#archived tr[data-file='{archived.name}']")
    expect(row).to_contain_text("mingguan")
    with manager.expect_download() as download:
        row.locator("a.download").click()
    assert Path(download.value.path()).read_bytes() == archived.read_bytes()
    manager.screenshot(path=str(shots / "manager-1280x900-archive.png"), full_page=True)

    phone = console(browser, demo_centre, "manajer", errors, **PHONE)
    phone.locator("h1", has_text="Hari ini").wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 412  # the charts shrink to the phone
    phone.screenshot(path=str(shots / "manager-412x915-today.png"), full_page=True)
    expect(phone.locator("#fig-incidents b")).to_have_text(re.compile(r"^\d+$"))
    assert errors == []
