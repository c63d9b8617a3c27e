"""The call-taker's path from a ringing call to a created incident, by keyboard alone.

One script, played by the browser test (tests/e2e/test_calltaker_keyboard.py) and measured by
bench/consoles.py, so the figure the benchmark prints is the path the test proves works. The page
counts what it really received (trusted key-downs and mouse clicks: `install_counters`), and the
script says which keys were the notes' free text, which the issue's goal leaves out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: Chosen on the call-taker console: 2 = medis (the select lists the types in IncidentType's order).
TYPE_KEY, TYPE = "2", "medis"
PRIORITY_KEY = "1"
ADDRESS_QUERY = "sudirman"
NOTES = "Pria pingsan di depan toko, bernapas"


@dataclass(frozen=True)
class Step:
    kind: Literal["press", "type", "wait"]
    value: str  # a key (Playwright's names, chords with "+"), a text, or a JS condition to wait for
    notes: bool = False  # free text of the notes: not counted against the goal
    why: str = ""


RING_TO_INCIDENT: tuple[Step, ...] = (
    Step("wait", "() => document.querySelector('#calls tbody tr.ringing') !== null", why="a call rings"),
    Step("press", "a", why="answer the call that rings longest; the focus goes to the type"),
    Step("wait", "() => document.activeElement.id === 'type'"),
    Step("press", TYPE_KEY, why="type 2: medis"),
    Step("press", "Tab", why="to the priority"),
    Step("press", PRIORITY_KEY, why="P1"),
    Step("press", "Tab", why="to the address"),
    Step("type", ADDRESS_QUERY, why="search the extract's streets"),
    Step("wait", "() => document.querySelectorAll('#address-results:not([hidden]) li').length > 0"),
    Step("press", "ArrowDown", why="highlight the first suggestion"),
    Step("press", "Enter", why="take it (never submits)"),
    Step("press", "Tab", why="to the notes"),
    Step("type", NOTES, notes=True),
    Step("press", "Control+Enter", why="create the incident"),
)


#: Then on the dispatcher's console: the new P1 heads the queue (most urgent, then oldest first).
INCIDENT_TO_DISPATCHED: tuple[Step, ...] = (
    Step("wait", "() => document.querySelector('#queue tbody tr') !== null", why="the incident is in the queue"),
    Step("press", "j", why="select the first incident of the queue"),
    Step("wait", "() => document.querySelector('#recommendations tr.cursor button.dispatch') !== null"),
    Step("press", "d", why="send the first recommended unit (the one under the cursor)"),
)


def keys_of(step: Step) -> int:
    """Key-downs a step makes: a text one per character, a chord one per key (Control+Enter is 2)."""
    if step.kind == "type":
        return len(step.value)
    return len(step.value.split("+")) if step.kind == "press" else 0


def keystrokes(path: tuple[Step, ...] = RING_TO_INCIDENT, *, with_notes: bool = False) -> int:
    """Key-downs of `path` (the notes' free text only `with_notes`)."""
    return sum(keys_of(s) for s in path if with_notes or not s.notes)


COUNTERS_JS = """() => {
    window.__keys = 0; window.__clicks = 0;
    document.addEventListener("keydown", (e) => { if (e.isTrusted && !e.repeat) window.__keys += 1; }, true);
    document.addEventListener("mousedown", (e) => { if (e.isTrusted) window.__clicks += 1; }, true);
}"""


def install_counters(page: Any) -> None:
    """Count, in the page, every real key-down and mouse click from now on."""
    page.evaluate(COUNTERS_JS)


def counted(page: Any) -> tuple[int, int]:
    """(key-downs, clicks) the page received since `install_counters`."""
    return int(page.evaluate("window.__keys")), int(page.evaluate("window.__clicks"))


def play(page: Any, path: tuple[Step, ...] = RING_TO_INCIDENT) -> None:
    """The script on a Playwright page, through `page.keyboard` only (never a click)."""
    for step in path:
        if step.kind == "press":
            page.keyboard.press(step.value)
        elif step.kind == "type":
            page.keyboard.type(step.value)
        else:
            page.wait_for_function(step.value)
