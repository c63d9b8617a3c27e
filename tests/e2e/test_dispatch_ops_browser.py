"""The dispatch operations of a shift in the consoles (Debian's Chromium driven by Playwright):
a dispatcher corrects an SMS incident's type and priority, the crew says it cannot go and the
dispatcher is alerted without reloading, the dispatcher takes a unit back and the crew's phone
says why, takes a unit from a less urgent incident after confirming on the page, merges a
duplicate, and closes a stuck incident with its outcome, releasing its unit."""

from __future__ import annotations

import re
from typing import Any

import factories as f
import pytest
import requests
from browser_consoles import ROADS, artefacts, console
from live import LiveCentre
from playwright.sync_api import expect
from requirements import needs_file

from cad.db import db
from cad.models import Role, Unit

pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True),
    needs_file(ROADS),
]


def _api(at: LiveCentre, token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    answer = requests.request(
        method, at.url + "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def test_a_shift_of_dispatch_operations_in_the_consoles(demo_centre: LiveCentre, browser: Any, backend: str) -> None:
    unit = db.session.query(Unit).filter_by(callsign="DMK-01").one()
    dmk = unit.id
    spot = {"lat": unit.lat + 0.0008, "lon": unit.lon + 0.0008}
    token = f.api_token(Role.DISPATCHER)
    db.session.remove()
    errors: list[str] = []
    dispatcher = console(browser, demo_centre, "dispatcher", errors, viewport={"width": 1600, "height": 900})
    crew = console(
        browser, demo_centre, "kru", errors, viewport={"width": 412, "height": 915}, is_mobile=True, has_touch=True
    )

    def row(incident: dict[str, Any]) -> Any:
        return dispatcher.locator(f"#queue tbody tr[data-number='{incident['number']}']")

    # an SMS report arrives as "other", P3: the dispatcher corrects it to a P1 fire
    sms = _api(
        demo_centre,
        token,
        "POST",
        "/incidents",
        {"type": "lainnya", "priority": 3, "location": spot, "address": "Gang Mawar"},
    )
    row(sms).click()
    dispatcher.click("#edit-incident")
    dispatcher.select_option("#edit-type", "kebakaran")
    dispatcher.select_option("#edit-priority", "1")
    dispatcher.click("#edit-form button[type=submit]")
    row(sms).filter(has_text="P1").filter(has_text="Kebakaran").wait_for()
    changes = [
        e
        for e in _api(demo_centre, token, "GET", f"/incidents/{sms['id']}")["timeline"]
        if e["kind"] == "incident_updated"
    ]
    assert changes[-1]["data"]["changes"]["type"] == ["lainnya", "kebakaran"]

    # someone else changes it while the form is open: the form stays, the stale edit is refused in
    # Indonesian (no English server text on an Indonesian page), and nothing is overwritten
    dispatcher.click("#edit-incident")
    _api(demo_centre, token, "PATCH", f"/incidents/{sms['id']}", {"description": "Diubah di meja lain"})
    dispatcher.fill("#edit-description", "Versi saya")
    dispatcher.click("#edit-form button[type=submit]")
    refused = dispatcher.locator(
        "#alerts .error", has_text="Sudah berubah: periksa lagi lalu ulangi (diubah orang lain)"
    )
    refused.wait_for()
    assert _api(demo_centre, token, "GET", f"/incidents/{sms['id']}")["description"] == "Diubah di meja lain"
    assert errors == [f"dispatcher: 409 {demo_centre.url}/api/v1/incidents/{sms['id']}"]  # the refusal, expected
    errors.clear()

    # DMK-01 is sent; its crew cannot go: the dispatcher hears it at once, with the next unit
    dispatcher.click("#recommendations button.dispatch[data-unit='DMK-01']")
    row(sms).locator("[data-unit='DMK-01']").wait_for()
    crew.locator("#job-title", has_text=sms["number"]).wait_for()
    crew.click("#cannot-go")
    crew.click("button.decline-reason[data-reason='rusak']")
    alert = dispatcher.locator("#alerts p", has_text="DMK-01")
    expect(alert).to_contain_text(re.compile(r"tidak bisa berangkat \(Kendaraan rusak\) → \S+"))
    crew.locator("#no-job").wait_for()
    row(sms).locator("[data-unit='DMK-01']").wait_for(state="detached")
    _api(demo_centre, token, "POST", f"/units/{dmk}/status", {"status": "available"})  # repaired

    # sent again, then taken back: the crew's phone says why
    row(sms).click()
    dispatcher.click("#recommendations button.dispatch[data-unit='DMK-01']")
    crew.locator("#job-title", has_text=sms["number"]).wait_for()
    dispatcher.click(".release-unit[data-unit='DMK-01']")
    dispatcher.fill("#release-reason", "salah kirim unit")
    dispatcher.click("#release-submit")
    row(sms).locator("[data-unit='DMK-01']").wait_for(state="detached")
    crew.locator("#flash", has_text="Tugas ditarik oleh dispatcher: salah kirim unit").wait_for()
    crew.locator("#no-job").wait_for()
    crew.screenshot(path=str(artefacts() / f"crew-released-{backend}.png"))

    # DMK-01 on its way to a P3; a P1 next door takes it, after a confirmation on the page
    low = _api(
        demo_centre,
        token,
        "POST",
        "/incidents",
        {"type": "kebakaran", "priority": 3, "location": spot, "address": "Gudang"},
    )
    _api(demo_centre, token, "POST", f"/incidents/{low['id']}/assignments", {"unit_id": dmk})
    high = _api(
        demo_centre,
        token,
        "POST",
        "/incidents",
        {"type": "kebakaran", "priority": 1, "location": spot, "address": "Rumah"},
    )
    row(high).click()
    dispatcher.click("#preempt-unit")
    dispatcher.click("#preempt-list button.preempt[data-unit='DMK-01']")
    sure = dispatcher.locator("#preempt-list .confirm-yes")
    expect(sure).to_contain_text(low["number"])
    expect(sure).to_contain_text(high["number"])
    sure.click()
    row(high).locator("[data-unit='DMK-01']").wait_for()
    row(low).locator("[data-unit='DMK-01']").wait_for(state="detached")
    expect(row(low)).to_contain_text("baru")  # back in the queue
    crew.locator("#job-title", has_text=high["number"]).wait_for()

    # a second incident for the same fire is merged into the first
    duplicate = _api(
        demo_centre, token, "POST", "/incidents", {"type": "medis", "priority": 2, "location": spot, "address": "Rumah"}
    )
    row(duplicate).click()
    dispatcher.click("#merge-incident")
    dispatcher.select_option("#merge-into", str(high["id"]))
    dispatcher.click("#merge-submit")
    row(duplicate).wait_for(state="detached")
    merged = _api(demo_centre, token, "GET", f"/incidents/{duplicate['id']}")
    assert (merged["disposition"], merged["merged_into_id"]) == ("ganda", high["id"])

    # the P1 turns out to be nothing; DMK-01 never acknowledged: closed with its outcome, unit released
    row(high).click()
    dispatcher.click("#close-incident")
    dispatcher.select_option("#close-disposition", "tidak_ditemukan")
    dispatcher.screenshot(path=str(artefacts() / f"dispatcher-close-{backend}.png"))
    dispatcher.click("#close-submit")
    expect(dispatcher.locator("#close-release:invalid")).to_have_count(1)  # the units must be released knowingly
    dispatcher.check("#close-release")
    dispatcher.click("#close-submit")
    row(high).wait_for(state="detached")
    assert _api(demo_centre, token, "GET", f"/units/{dmk}")["status"] == "available"
    crew.locator("#no-job").wait_for()
    assert errors == []
