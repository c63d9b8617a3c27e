"""The call-taker's console by keyboard alone, in a real browser (Debian's Chromium via Playwright):
a call rings, is answered, typed, prioritised, placed and created without the mouse; Enter in the
address field never creates; no type is chosen for the call-taker; the call ends by a key; a text
conversation stops ringing on every console once one call-taker has it. After logging in, these
tests never click: every action is `page.keyboard`, and the page counts the clicks it received."""

from __future__ import annotations

import re
from typing import Any

import pytest
from browser_consoles import ROADS, artefacts, console, sip_invite, sms
from keyboard_path import (
    ADDRESS_QUERY,
    INCIDENT_TO_DISPATCHED,
    NOTES,
    RING_TO_INCIDENT,
    TYPE,
    counted,
    install_counters,
    keystrokes,
    play,
)
from live import LiveCentre
from playwright.sync_api import expect
from requirements import needs_file

from cad.db import db
from cad.models import Call, Incident, Unit

pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True),
    needs_file(ROADS),
]
VIEW = {"viewport": {"width": 1400, "height": 900}}
NUMBER = re.compile(r"MKS-\d{8}-\d+")


def a_spot() -> tuple[float, float]:
    unit = db.session.query(Unit).filter_by(callsign="DMK-01").one()
    spot = (unit.lat + 0.0008, unit.lon + 0.0008)
    db.session.remove()
    return spot


def incident_posts(page: Any) -> list[str]:
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith("/api/v1/incidents") and posts.append(r.url))
    return posts


def created_number(page: Any) -> str:
    flash = page.locator("#flash .notice", has_text=NUMBER)
    flash.wait_for()
    found = NUMBER.search(flash.inner_text())
    assert found, flash.inner_text()
    return found.group(0)


def test_ring_to_dispatched_incident_by_keyboard_alone(
    demo_centre: LiveCentre,
    browser: Any,
    backend: str,
) -> None:
    spot = a_spot()
    errors: list[str] = []
    taker = console(browser, demo_centre, "operator", errors, **VIEW)
    dispatcher = console(browser, demo_centre, "dispatcher", errors, **VIEW)
    expect(taker.locator("#keys kbd", has_text="Ctrl+Enter")).to_have_count(1)  # the keys are on screen
    install_counters(taker)
    call_id = sip_invite(demo_centre, *spot)

    play(taker, RING_TO_INCIDENT[:-1])  # everything but Ctrl+Enter: look at the form first
    expect(taker.locator("#type")).to_have_value(TYPE)
    expect(taker.locator("input[name=priority][value='1']")).to_be_checked()
    expect(taker.locator("#address")).to_have_value(re.compile("Sudirman"))
    address = taker.locator("#address").input_value()
    assert address != ADDRESS_QUERY  # the suggestion's name, not the raw text
    expect(taker.locator("#address-results")).to_be_hidden()
    # both places shown, distinct; the caller's precise one is the one used
    expect(taker.locator("#place-caller-text")).to_contain_text("lokasi jaringan (PIDF)")
    expect(taker.locator("#place-point-text")).to_contain_text("titik alamat")
    expect(taker.locator("#place-point-text")).to_contain_text("Sudirman")
    expect(taker.locator("#place-caller")).to_be_checked()
    expect(taker.locator("#place-point")).not_to_be_checked()
    expect(taker.locator("#description")).to_have_value(NOTES)
    taker.screenshot(path=str(artefacts() / f"calltaker-keyboard-{backend}.png"), full_page=True)
    play(taker, RING_TO_INCIDENT[-1:])
    number = created_number(taker)
    expect(taker.locator("#flash .notice")).to_contain_text("lokasi jaringan")  # the incident says which place

    keys, clicks = counted(taker)
    assert clicks == 0
    assert keys == keystrokes(with_notes=True)  # the page got exactly the scripted keys
    assert keystrokes() < 25  # the goal, the notes aside

    incident = db.session.query(Incident).filter_by(number=number).one()
    assert (incident.type, incident.priority, incident.address) == (TYPE, 1, address)
    assert incident.location_source == "pidf-lo" and incident.location_accuracy_m == 25
    assert (round(incident.lat, 6), round(incident.lon, 6)) == (round(spot[0], 6), round(spot[1], 6))
    call = db.session.get(Call, call_id)
    assert call is not None and call.incident_id == incident.id and call.state == "answered"
    db.session.remove()
    # back to the list: the next call can be taken by A; the dispatcher's queue has it, no reload
    taker.wait_for_function("() => document.activeElement.id === 'calls'")
    dispatcher.locator(f"#queue tbody tr[data-number='{number}']").wait_for()
    assert taker.evaluate("window.__sameDocument") is True

    # the dispatcher sends the first recommended unit by keyboard too: J selects, D sends
    expect(dispatcher.locator("#keys kbd", has_text="D")).to_have_count(1)
    install_counters(dispatcher)
    play(dispatcher, INCIDENT_TO_DISPATCHED)
    sent = dispatcher.locator(f"#queue tbody tr[data-number='{number}'] .badge[data-unit]")
    sent.first.wait_for()
    keys, clicks = counted(dispatcher)
    assert clicks == 0 and keys == keystrokes(INCIDENT_TO_DISPATCHED) == 2
    assert keystrokes() + keystrokes(INCIDENT_TO_DISPATCHED) < 25  # ring to dispatched, the notes aside
    incident = db.session.query(Incident).filter_by(number=number).one()
    assert incident.status == "dispatched" and [a.unit.callsign for a in incident.assignments] == [
        sent.first.get_attribute("data-unit")
    ]
    db.session.remove()
    assert errors == []


def test_enter_never_creates_no_type_is_chosen_for_the_call_taker_and_the_address_point_only_on_request(
    demo_centre: LiveCentre,
    browser: Any,
    backend: str,
) -> None:
    spot = a_spot()
    errors: list[str] = []
    taker = console(browser, demo_centre, "operator", errors, **VIEW)
    install_counters(taker)
    posts = incident_posts(taker)
    sip_invite(demo_centre, *spot)
    play(taker, RING_TO_INCIDENT[:3])  # ring, A: the form is focused on the type
    expect(taker.locator("#type")).to_have_value("")  # nothing pre-selected
    taker.keyboard.press("Enter")  # on the type: on to the priority (no list opens, nothing is sent)
    assert taker.evaluate("document.activeElement.name") == "priority"
    taker.keyboard.press("Enter")  # on the priority (a radio: a browser would submit the form): on to the address
    assert taker.evaluate("document.activeElement.id") == "address"
    taker.keyboard.type(ADDRESS_QUERY)
    taker.locator("#address-results li").first.wait_for()
    taker.keyboard.press("Enter")  # nothing highlighted: Enter does nothing at all
    taker.keyboard.press("Escape")  # closes the list, stays in the field
    expect(taker.locator("#address-results")).to_be_hidden()
    assert taker.evaluate("document.activeElement.id") == "address"
    taker.keyboard.press("ArrowDown")  # opens it again on the first suggestion
    taker.keyboard.press("ArrowDown")
    taker.keyboard.press("ArrowUp")
    expect(taker.locator("#address-results li.active")).to_have_count(1)
    chosen = taker.locator("#address-results li.active").inner_text()
    taker.keyboard.press("Enter")
    assert chosen.startswith(taker.locator("#address").input_value())
    taker.keyboard.press("Enter")  # the list is closed: still nothing
    # a submit would be refused at once, in the key's own handler (no type chosen): no refusal on
    # screen right after the key is the proof that Enter did not submit
    expect(taker.locator("#flash .error")).to_have_count(0)
    assert posts == []
    expect(taker.locator("#flash .notice", has_text=NUMBER)).to_have_count(0)

    taker.keyboard.press("Control+Enter")  # no type: refused, naming it, and the focus goes to it
    taker.locator("#flash .error", has_text="Jenis").wait_for()
    assert taker.evaluate("document.activeElement.id") == "type" and posts == []
    taker.keyboard.press("6")  # keamanan
    expect(taker.locator("#type")).to_have_value("keamanan")
    taker.keyboard.press("Alt+l")  # the address point, asked for explicitly
    expect(taker.locator("#place-point")).to_be_checked()
    taker.keyboard.press("Control+Enter")
    number = created_number(taker)
    assert len(posts) == 1 and counted(taker)[1] == 0
    incident = db.session.query(Incident).filter_by(number=number).one()
    assert incident.type == "keamanan" and incident.priority == 2
    assert incident.location_source == "geocoded" and (incident.lat, incident.lon) != spot
    db.session.remove()
    assert errors == []


def test_the_call_taker_ends_the_call_by_key(demo_centre: LiveCentre, browser: Any, backend: str) -> None:
    errors: list[str] = []
    taker = console(browser, demo_centre, "operator", errors, **VIEW)
    install_counters(taker)
    ends: list[str] = []
    taker.on("request", lambda r: r.method == "POST" and r.url.endswith("/end") and ends.append(r.url))
    call_id = sip_invite(demo_centre, *a_spot())
    play(taker, RING_TO_INCIDENT[:3])
    taker.locator("#end-call:not([hidden])").wait_for()  # answered: End (E) is offered
    taker.keyboard.press("e")  # in the type field: a type's letter, never the end of the call
    expect(taker.locator("#call-info p", has_text="dijawab")).to_have_count(1)
    taker.keyboard.press("Escape")  # back to the list
    taker.keyboard.press("e")
    taker.locator("#flash .notice", has_text="Panggilan diakhiri").wait_for()
    assert len(ends) == 1  # a request to end sent by the first E would have gone before this one's
    taker.locator(f"#calls tbody tr[data-call='{call_id}']").wait_for(state="detached")
    taker.locator("#end-call").wait_for(state="hidden")  # ended: nothing left to end
    call = db.session.get(Call, call_id)
    assert call is not None and call.state == "ended" and call.ended_at is not None
    db.session.remove()
    assert counted(taker)[1] == 0 and errors == []


def test_a_text_stops_ringing_everywhere_once_taken_and_the_next_call_shows_no_old_messages(
    demo_centre: LiveCentre,
    browser: Any,
    backend: str,
) -> None:
    errors: list[str] = []
    first = console(browser, demo_centre, "operator", errors, **VIEW)
    second = console(browser, demo_centre, "operator", errors, **VIEW)
    install_counters(first)
    sms(demo_centre, "Tolong, ada yang tenggelam di pantai")
    row = "#calls tbody tr[data-phone='+6285299990000']"
    for page in (first, second):
        page.locator(f"{row}.ringing").wait_for()
    first.keyboard.press("a")  # the first call-taker takes it
    first.locator("#chat p", has_text="tenggelam").wait_for()
    second.locator(f"{row}[data-state='answered']:not(.ringing)").wait_for()  # no reload on the second
    expect(second.locator("#calls tbody tr.ringing")).to_have_count(0)

    # the next call opens: the conversation goes at once, it does not wait for the new call's data
    sip_invite(demo_centre, *a_spot())
    first.locator("#calls tbody tr.ringing").wait_for()
    first.keyboard.press("Escape")
    first.keyboard.press("a")
    first.locator("#call-location", has_text="lokasi jaringan (PIDF)").wait_for()
    expect(first.locator("#chat")).to_have_count(0)
    expect(first.locator("#reply-text")).to_have_count(0)
    # back to the text by keys: its messages, and only its
    first.keyboard.press("Escape")
    first.keyboard.press("j")
    first.keyboard.press("Enter")
    first.locator("#chat p", has_text="tenggelam").wait_for()
    assert counted(first)[1] == 0 and errors == []
