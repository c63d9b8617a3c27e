"""A whole incident through the consoles in a real browser (Debian's Chromium driven by Playwright):
a call arrives, the call-taker opens the incident, the dispatcher sees it appear without reloading and
dispatches in one click, the crew's phone page shows the job and moves through the statuses, and the
dispatcher's board follows. Hostile text (caller name, SMS body, notes) is shown as text, never run.
Screenshots of each console go to $WARROOM_TEST_ARTIFACTS (default tests/artifacts/), per database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from browser_consoles import ROADS, artefacts, console, sip_invite, sms
from live import INTAKE_TOKEN, LiveCentre
from playwright.sync_api import expect
from requirements import needs_file

from cad.db import db
from cad.models import Unit

XSS_NOTES = "Asap tebal <script>window.__xss=2</script><img src=x onerror=window.__xss=3>"
XSS_SMS = "Tolong <img src=x onerror=window.__xss=4><script>window.__xss=5</script>"

pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True),
    needs_file(ROADS),
]


def test_a_whole_incident_through_the_consoles(demo_centre: LiveCentre, browser: Any, backend: str) -> None:
    unit = db.session.query(Unit).filter_by(callsign="DMK-01").one()
    spot = (unit.lat + 0.0008, unit.lon + 0.0008)  # the call comes from beside DMK-01: it is the nearest
    db.session.remove()
    errors: list[str] = []
    shots = artefacts() / backend
    shots.mkdir(exist_ok=True)
    taker = console(browser, demo_centre, "operator", errors, viewport={"width": 1400, "height": 900})
    dispatcher = console(browser, demo_centre, "dispatcher", errors, viewport={"width": 1400, "height": 900})
    crew = console(
        browser, demo_centre, "kru", errors, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    assert crew.url.endswith("/crew")
    expect(crew.locator("#no-job")).to_be_visible()  # drawn from /crew/job's answer, never before it

    # a 112 call rings: the call-taker sees it live, with its caller shown as text
    sip_invite(demo_centre, *spot)
    row = taker.locator("#calls tbody tr", has_text="Budi")
    expect(row).to_contain_text("<img src=x onerror=window.__xss=1>")
    row.click()
    taker.locator("#call-location", has_text="lokasi jaringan (PIDF)").wait_for()
    taker.click("#answer")
    taker.locator("#calls tbody tr", has_text="Budi").filter(has_text=re.compile("answered|dijawab")).wait_for()

    # one form: type, priority, address search over the extract's streets, notes
    taker.select_option("#type", "kebakaran")
    taker.check("input[name=priority][value='1']")
    taker.fill("#address", "sudirman")
    taker.locator("#address-results li", has_text="Jalan Jenderal Sudirman").first.wait_for()
    taker.fill("#address", "sudirman / ahmad yani")  # a junction, what it is said in Indonesian
    taker.locator("#address-results li", has_text="Jalan Jenderal Ahmad Yani").filter(has_text="simpang").wait_for()
    taker.fill("#address", "Jalan Jenderal Sudirman 12")
    taker.locator("#address-results li", has_text="nomor 12 tidak diketahui").wait_for()
    taker.fill("#description", XSS_NOTES)
    taker.screenshot(path=str(shots / "calltaker-form.png"), full_page=True)
    taker.click("#create-incident")
    flash = taker.locator("#flash .notice", has_text=re.compile(r"MKS-\d{8}-\d+"))
    flash.wait_for()
    number = re.search(r"MKS-\d{8}-\d+", flash.inner_text())
    assert number, flash.inner_text()
    number_text = number.group(0)
    taker.screenshot(path=str(shots / "calltaker.png"), full_page=True)

    # the dispatcher's queue shows it without reloading; one click sends DMK-01
    queued = dispatcher.locator(f"#queue tbody tr[data-number='{number_text}']")
    queued.wait_for()
    queued.click()
    expect(dispatcher.locator("#detail .description")).to_have_text(XSS_NOTES)
    dispatcher.click("#recommendations button.dispatch[data-unit='DMK-01']")
    badge = queued.locator("[data-unit='DMK-01']")
    expect(badge.locator(".timer.ack")).to_have_count(1)  # the acknowledgement timer runs
    dispatcher.screenshot(path=str(shots / "dispatcher.png"), full_page=True)

    # the crew's phone shows the job, then the crew moves through the statuses; the board follows
    crew.locator("#job-title", has_text=number_text).wait_for()
    expect(crew.locator(".description")).to_have_text(XSS_NOTES)
    crew.locator("#route-info", has_text="km").wait_for()
    crew.screenshot(path=str(shots / "crew.png"), full_page=True)
    for status in ("acknowledged", "en_route", "on_scene"):
        crew.click(f"button.move[data-status='{status}']")
        crew.locator(f"#unit-status.st-{status}").wait_for()
        queued.locator(f".badge.st-{status}[data-unit='DMK-01']").wait_for()
    queued.locator(".badge.st-on_scene").first.wait_for()  # the incident is on scene too
    expect(queued.locator(".timer.ack")).to_have_count(0)  # acknowledged: the timer stopped
    crew.screenshot(path=str(shots / "crew-on-scene.png"), full_page=True)
    for status in ("transporting", "at_hospital", "available"):
        crew.click(f"button.move[data-status='{status}']")
        crew.locator(f"#unit-status.st-{status}").wait_for()
    crew.locator("#no-job").wait_for()
    queued.locator("[data-unit='DMK-01']").wait_for(state="detached")
    dispatcher.screenshot(path=str(shots / "dispatcher-after.png"), full_page=True)
    dispatcher.click("#close-incident")  # every unit is back: the dispatcher closes it, saying how it ended
    dispatcher.select_option("#close-disposition", "selesai_ditangani")
    dispatcher.click("#close-submit")
    queued.wait_for(state="detached")

    # an SMS with markup in it reaches the call-taker as text
    sms(demo_centre, XSS_SMS)
    sms_row = taker.locator("#calls tbody tr", has_text="+6285299990000")
    sms_row.wait_for()
    sms_row.click()
    taker.locator("#chat p", has_text="Tolong").wait_for()
    expect(taker.locator("#chat p").first).to_have_text(XSS_SMS)
    taker.fill("#reply-text", "Petugas segera datang <b>sekarang</b>")
    taker.click("#reply button")
    taker.locator("#chat p.out", has_text="Petugas segera datang <b>sekarang</b>").wait_for()

    manager = console(browser, demo_centre, "manajer", errors, viewport={"width": 1200, "height": 900})
    expect(manager.locator("h1", has_text="Hari ini")).to_have_count(1)
    expect(manager.locator("#fig-incidents b")).to_have_text("2")  # the phone call's incident and the SMS's
    expect(manager.locator("#fig-open b")).to_have_text("1")  # the SMS's is still open
    expect(manager.locator("#fig-median b")).not_to_have_text("—")
    manager.screenshot(path=str(shots / "manager.png"), full_page=True)
    manager.select_option("header select[name=lang]", "en")  # English on request: the page comes back in it
    manager.locator("h1", has_text="Today").wait_for()
    manager.evaluate("window.__sameDocument = true")

    for page in (taker, dispatcher, crew, manager):
        assert page.evaluate("window.__xss") is None, page.url
        assert page.evaluate("window.__sameDocument") is True, page.url
        expect(page.locator("img[src=x]")).to_have_count(0)
    assert errors == []


def test_a_call_that_could_not_be_recorded_alerts_both_desks_until_handled(
    demo_centre: LiveCentre, browser: Any, backend: str
) -> None:
    """The agent reports an entry the centre refused: the call-taker and the dispatcher see it at once
    (no reload), with the number and the WITA time, and one click marks it handled on both."""
    errors: list[str] = []
    taker = console(browser, demo_centre, "operator", errors)
    dispatcher = console(browser, demo_centre, "dispatcher", errors)
    refused = {
        "id": "lost-1",
        "seq": 7,
        "kind": "invite",
        "at": "2026-12-03T01:02:00+00:00",
        "payload": {"phone": "+6281299990000", "received_at": "2026-12-03T01:02:00+00:00"},
    }
    aside = {"id": "aside-1", "kind": "set_aside", "entry": refused, "reason_text": "400 something the centre refused"}
    answer = requests.post(
        demo_centre.url + "/telephony/sip/events",
        json=aside,
        headers={"Authorization": f"Bearer {INTAKE_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    for page in (taker, dispatcher):
        alert = page.locator("#intake-failures .intake-failure")
        expect(alert).to_contain_text(re.compile(r"Panggilan tidak dapat dicatat: \+6281299990000, 09[:.]02 WITA"))
    taker.screenshot(path=str(artefacts() / f"calltaker-intake-alert-{backend}.png"))
    taker.locator("#intake-failures button").click()
    for page in (taker, dispatcher):
        page.locator("#intake-failures .intake-failure").wait_for(state="detached")


def test_a_sip_reply_nobody_received_shows_as_not_delivered(
    demo_centre: LiveCentre, browser: Any, backend: str
) -> None:
    """The agent reports the phone refused the reply: the call-taker sees it, in Indonesian, without reloading."""
    agent = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
    event = {
        "id": "browser-m1",
        "kind": "message",
        "external_id": "sip:browser-text@10.0.0.7:1",
        "phone": "+6285211112222",
        "body": "Saya tidak bisa bicara",
        "received_at": datetime.now(UTC).isoformat(),
        "contact": "sip:085211112222@10.0.0.7:35090",
    }
    stored = requests.post(demo_centre.url + "/telephony/sip/events", json=event, headers=agent, timeout=10)
    assert stored.status_code == 200, stored.text
    errors: list[str] = []
    taker = console(browser, demo_centre, "operator", errors, viewport={"width": 1400, "height": 900})
    taker.locator("#calls tbody tr", has_text="+6285211112222").click()
    taker.locator("#chat p", has_text="Saya tidak bisa bicara").wait_for()
    taker.fill("#reply-text", "Petugas menuju lokasi")
    taker.click("#reply button")
    reply = taker.locator("#chat p.out", has_text="Petugas menuju lokasi")
    reply.wait_for()
    expect(reply.locator(".failed")).to_have_count(0)  # queued: not judged yet
    claimed = requests.post(demo_centre.url + "/telephony/sip/outbox/claim", headers=agent, timeout=10).json()
    assert [m["to"] for m in claimed] == ["sip:085211112222@10.0.0.7:35090"]
    outcome = {"status": "failed", "error": "480 Temporarily Unavailable"}
    requests.post(f"{demo_centre.url}/telephony/sip/outbox/{claimed[0]['id']}", json=outcome, headers=agent, timeout=10)
    taker.locator("#chat p.out[data-status=failed] .failed", has_text="tidak terkirim").wait_for()
    assert taker.evaluate("window.__sameDocument") is True
    assert errors == []


def test_a_call_cut_off_when_its_sip_agent_died_tells_the_call_taker_to_call_back(
    demo_centre: LiveCentre, browser: Any, backend: str
) -> None:
    """The call-taker is talking to a caller when the SIP agent holding the call dies: the open call
    says, in Indonesian and without a reload, that it was cut off and the caller should be called back."""
    agent = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
    invite = {
        "id": "browser-d1",
        "kind": "invite",
        "sip_call_id": "browser-dropped@10.0.0.1",
        "phone": "+6281377778888",
        "received_at": datetime.now(UTC).isoformat(),
        "agent": "node-b:5071",
    }
    stored = requests.post(demo_centre.url + "/telephony/sip/events", json=invite, headers=agent, timeout=10)
    assert stored.status_code == 200, stored.text
    errors: list[str] = []
    taker = console(browser, demo_centre, "operator", errors, viewport={"width": 1400, "height": 900})
    taker.locator("#calls tbody tr", has_text="+6281377778888").click()
    taker.click("#answer")
    taker.locator("#call-info p", has_text="dijawab").wait_for()
    # the agent died holding it (its journal says so after a restart; the centre says so when a
    # whole node falls silent: both close the call the same way)
    died = {
        "id": "browser-d2",
        "kind": "end",
        "sip_call_id": "browser-dropped@10.0.0.1",
        "ended_at": datetime.now(UTC).isoformat(),
        "reason": "agent_died",
    }
    ended = requests.post(demo_centre.url + "/telephony/sip/events", json=died, headers=agent, timeout=10)
    assert ended.json()["state"] == "dropped"
    taker.locator("#call-info p", has_text="terputus (agen SIP mati): telepon balik").wait_for()
    expect(taker.locator("#calls tbody tr", has_text="+6281377778888")).to_have_count(0)  # no longer active
    taker.screenshot(path=str(artefacts() / f"calltaker-call-dropped-{backend}.png"))
    assert taker.evaluate("window.__sameDocument") is True
    assert errors == []


#: Counts the tones the page starts (Web Audio oscillators) in `window.__tones`.
AUDIO_SPY = """
window.__tones = 0;
const create = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  const tone = create.call(this);
  const start = tone.start.bind(tone);
  tone.start = (...args) => { window.__tones += 1; return start(...args); };
  return tone;
};
"""


def _dispatcher_headers() -> dict[str, str]:
    import factories as f

    from cad.models import Role

    return f.user(Role.DISPATCHER, "Dewi")[1]


def test_an_incident_nobody_sent_a_unit_to_alerts_every_dispatcher_until_one_acknowledges(
    demo_centre: LiveCentre, browser: Any, backend: str, request: pytest.FixtureRequest
) -> None:
    """A red banner with the incident, its type, the wait and the level appears on both dispatchers'
    consoles without reloading, with a beep that repeats (until muted); acknowledging on one console
    takes it off both, and the timeline says who."""
    from datetime import timedelta

    from cad import clock
    from cad.services.alerts import raise_unassigned_alerts
    from dispatch.alerts import DEFAULT_UNASSIGNED_ALERT_S

    errors: list[str] = []
    first = console(browser, demo_centre, "dispatcher", errors, AUDIO_SPY)
    second = console(browser, demo_centre, "admin", errors, AUDIO_SPY)
    headers = _dispatcher_headers()
    incident = requests.post(
        demo_centre.url + "/api/v1/incidents",
        json={"type": "kebakaran", "priority": 1, "address": "Jalan Jenderal Sudirman 12"},
        headers=headers,
        timeout=10,
    ).json()
    for page in (first, second):  # a new P1 chimes once (three rising tones) as it reaches the queue
        page.locator(f"#queue tbody tr[data-number='{incident['number']}']").wait_for()
        assert page.evaluate("window.__tones") == 3  # played in the same step that draws the row
    # a minute on, for the centre as for the scheduler's sweep (no scheduler process runs here): an
    # acknowledgement stamped before the alert it acknowledges would leave it open, and the console
    # that acknowledged would draw it again from GET /alerts if that answer came after the event
    clock.set_clock(lambda: datetime.now(UTC) + timedelta(seconds=61))
    request.addfinalizer(lambda: clock.set_clock(None))
    raised = raise_unassigned_alerts(db.session, clock.now(), DEFAULT_UNASSIGNED_ALERT_S, 60)
    assert [a["incident_id"] for a in raised] == [incident["id"]]
    selector = f".alert-banner[data-alert='unassigned-{incident['id']}']"
    for page in (first, second):
        banner = page.locator(selector)
        for words in (incident["number"], "Kebakaran", "belum ada unit dikirim!", "tingkat 1", "menunggu"):
            expect(banner).to_contain_text(words)
        page.wait_for_function("() => window.__tones >= 3 + 2")  # it beeps, and again
    first.screenshot(path=str(artefacts() / f"dispatcher-unassigned-alert-{backend}.png"))

    first.click("#alert-mute")
    expect(first.locator("#alert-mute")).to_have_attribute("aria-pressed", "true")
    muted_at = first.evaluate("window.__tones")
    # the other console still sounds: two more of its beeps take longer than one interval, in which
    # the muted console would have beeped at least once
    second.wait_for_function("n => window.__tones >= n + 2", arg=second.evaluate("window.__tones"))
    assert first.evaluate("window.__tones") == muted_at

    second.locator(f"{selector} button.acknowledge").click()
    for page in (first, second):
        page.locator(selector).wait_for(state="detached")
        assert page.evaluate("window.__sameDocument") is True
    beeps = second.evaluate("window.__tones")
    # silence is what is tested, and no console still beeps to measure it by: longer than the
    # beep's interval (BEEP_EVERY_MS, 2.5 s, in alerts.js) without a tone
    second.wait_for_timeout(3000)
    assert second.evaluate("window.__tones") == beeps  # nothing open: silence
    timeline = requests.get(f"{demo_centre.url}/api/v1/incidents/{incident['id']}", headers=headers, timeout=10).json()
    [ack] = [e for e in timeline["timeline"] if e["kind"] == "alert_acknowledged"]
    assert ack["actor"] == "user:admin" and ack["data"]["alert"] == "unassigned"
    assert errors == []


def test_an_overdue_acknowledgement_sends_the_next_unit_in_one_click(
    demo_centre: LiveCentre, browser: Any, backend: str
) -> None:
    """The crew of DMK-01 has not acknowledged: the banner offers the next unit with its arrival time;
    that unit is taken meanwhile, so the click offers the one after it instead; its click sends it."""
    from cad.roads import travel_times
    from cad.services.dispatching import escalate_if_unacknowledged

    unit = db.session.query(Unit).filter_by(callsign="DMK-01").one()
    spot = {"lat": unit.lat + 0.0008, "lon": unit.lon + 0.0008}
    db.session.remove()
    errors: list[str] = []
    page = console(browser, demo_centre, "dispatcher", errors)
    headers = _dispatcher_headers()

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = requests.post(demo_centre.url + "/api/v1" + path, json=body, headers=headers, timeout=10)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    incident = post("/incidents", {"type": "kebakaran", "priority": 1, "location": spot})
    assignment = post(f"/incidents/{incident['id']}/assignments", {"unit_id": unit.id})
    estimator = travel_times(demo_centre.app.extensions["warroom.roads"], db.session)
    alert = escalate_if_unacknowledged(db.session, assignment["id"], estimator, stale_after_s=120)
    assert alert is not None and alert["next_callsign"], alert
    offered = str(alert["next_callsign"])
    banner = page.locator(f".alert-banner[data-alert='ack_overdue-{assignment['id']}']")
    button = banner.locator("button.send-next")
    expect(button).to_have_text(re.compile(rf"^Kirim unit berikutnya: {offered} \(\d+ mnt \d+ dtk\)$"))
    expect(banner).to_contain_text("DMK-01 belum diterima!")
    page.screenshot(path=str(artefacts() / f"dispatcher-ack-overdue-alert-{backend}.png"))

    elsewhere = post("/incidents", {"type": "kebakaran", "priority": 2, "location": spot})
    post(f"/incidents/{elsewhere['id']}/assignments", {"unit_id": alert["next_unit_id"]})  # taken meanwhile
    button.click()
    banner.locator(".alert-note", has_text=f"{offered} sudah ditugaskan lebih dulu").wait_for()
    instead = banner.locator("button.send-next")
    expect(instead).not_to_have_attribute("data-unit", offered)  # redrawn with the one after it
    callsign = instead.get_attribute("data-unit")
    assert callsign and callsign != offered
    instead.click()
    banner.wait_for(state="detached")
    detail = requests.get(f"{demo_centre.url}/api/v1/incidents/{incident['id']}", headers=headers, timeout=10).json()
    assert {a["callsign"] for a in detail["assignments"] if a["active"]} == {"DMK-01", callsign}
    [ack] = [e for e in detail["timeline"] if e["kind"] == "alert_acknowledged"]
    assert ack["actor"] == "user:dispatcher" and ack["data"]["assignment_id"] == assignment["id"]
    assert page.evaluate("window.__sameDocument") is True
    assert [e for e in errors if "/assignments" not in e] == []  # the 409 for the unit taken is expected
    assert len(errors) == 1 and " 409 " in errors[0]


def test_the_dispatcher_sees_fire_engine_coverage_fall_when_engines_are_sent(
    demo_centre: LiveCentre, browser: Any, backend: str
) -> None:
    """The coverage panel shows the fire engines' share of the roads within 240 s and the best
    move-up, the roads out of reach are a layer on the map that can be switched off, and the figure
    falls without a reload when the engines of one station are sent."""
    first = db.session.query(Unit).filter_by(callsign="DMK-01").one()
    station, name = (first.station.lat, first.station.lon), first.station.name
    engines = [u.id for u in db.session.query(Unit).filter_by(station_id=first.station_id, type="fire_engine")]
    db.session.remove()
    errors: list[str] = []
    dispatcher = console(browser, demo_centre, "dispatcher", errors, viewport={"width": 1400, "height": 900})
    figure = dispatcher.locator("#coverage-figure")
    expect(figure).to_have_text(re.compile(r"^Cakupan damkar 240 dtk: \d+(\.\d)? %"))
    expect(figure).to_have_attribute("data-share", re.compile(r"^0\.\d+"))
    before = float(figure.get_attribute("data-share") or "nan")
    assert 0 < before < 1
    move = dispatcher.locator("#coverage-move")
    expect(move).to_have_text("Tidak ada pemindahan yang menambah cakupan")  # every station has its engines
    shown = "() => WR.dispatcherMap.hasLayer(WR.coverage.layer) && WR.coverage.layer.getLayers().length > 0"
    dispatcher.wait_for_function(shown)
    dispatcher.uncheck("#coverage-layer")
    dispatcher.wait_for_function("() => !WR.dispatcherMap.hasLayer(WR.coverage.layer)")
    dispatcher.check("#coverage-layer")
    dispatcher.wait_for_function(shown)
    dispatcher.screenshot(path=str(artefacts() / f"dispatcher-coverage-{backend}.png"))

    sent = dispatcher.evaluate(
        """async ([lat, lon, ids]) => {
            const spot = { type: "kebakaran", priority: 1, location: { lat, lon } };
            const incident = await WR.api("POST", "/incidents", spot);
            return (await WR.api("POST", `/incidents/${incident.id}/dispatch`, { unit_ids: ids })).assignments.length;
        }""",
        [station[0], station[1], engines],
    )
    assert sent == len(engines) >= 2
    dispatcher.wait_for_function(
        "before => Number(document.querySelector('#coverage-figure').dataset.share) < before", arg=before
    )
    # the emptied station is where an engine from elsewhere should go
    refill = re.compile(rf"^Pindahkan DMK-\d+ ke {re.escape(name)}: \+")
    dispatcher.locator("#coverage-move", has_text=refill).wait_for()
    dispatcher.wait_for_function("() => WR.coverage.layer.getLayers().length > 0")
    dispatcher.select_option("header select[name=lang]", "en")  # English on request
    dispatcher.locator("#coverage-figure", has_text=re.compile(r"^Fire engine coverage 240 s: ")).wait_for()
    assert errors == []
