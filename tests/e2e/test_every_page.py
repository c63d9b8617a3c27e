"""Every page of every role, in both languages, in a real browser: nothing on screen that the
person at the console cannot read (raw identifiers such as `call_taker` or `pidf-lo`, English on
an Indonesian page, Indonesian on an English one, Leaflet's own "Zoom in"), and no serious or
critical accessibility violation found by axe-core (from npm, served from node_modules: no
CDN). Screenshots of each page per language go to the artefacts folder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from browser_consoles import ROADS, artefacts, console
from live import LiveCentre
from requirements import needs_file

from cad.config import REPO_ROOT
from cad.db import db
from cad.models import Unit
from cad.web.i18n import TRANSLATIONS

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"

pytestmark = [
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),  # the pages, not the database
    needs_file(ROADS),
]

#: Each demo user and the pages their role works in (a dispatcher also sees the call-takers' and
#: a crew's page).
PAGES = {
    "operator": ["/calltaker"],
    "dispatcher": ["/dispatcher", "/calltaker", "/crew?unit={DMK-01}"],
    "kru": ["/crew"],
    "manajer": ["/manager", "/manager?period=month", "/manager/reports"],
    "admin": ["/admin/audit"],
}

#: Raw identifiers and protocol names that must never reach a person.
RAW = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\bpidf-lo\b|\bhomecare\b|\brun card\b", re.I)
#: Small English words that no Indonesian sentence contains (and Leaflet's own buttons).
ENGLISH_WORDS = re.compile(
    r"\b(?:the|and|with|from|not|is|are|of|this|that|please|select|click|zoom in|zoom out)\b", re.I
)

#: The page is all there: drawn by the server, or its scripts' first looks answered (common.js).
LOADED = "() => typeof WR === 'undefined' || document.body.dataset.loaded === 'true'"

TEXT_OF_PAGE = """() => {
  const seen = [document.body.innerText];
  for (const node of document.querySelectorAll('[title], [aria-label], [placeholder], [alt]')) {
    for (const name of ['title', 'aria-label', 'placeholder', 'alt']) {
      const value = node.getAttribute(name);
      if (value) seen.push(value);
    }
  }
  return seen.join('\\n');
}"""


#: axe-core's serious and critical violations on the page, each with the first nodes and why.
SERIOUS_VIOLATIONS = """async () => {
  const found = (await axe.run(document, {resultTypes: ['violations']})).violations;
  const why = (n) => `${n.target.join(' ')} [${(n.any[0] || n.all[0] || {}).message || ''}]`;
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ` + v.nodes.slice(0, 3).map(why).join(', '));
}"""


def _catalogue(lang: str) -> dict[str, str]:
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if isinstance(m.id, str) and m.id}


def _foreign_phrases(lang: str) -> list[str]:
    """UI phrases of the other language that would betray an untranslated text on a `lang` page:
    on Indonesian pages the English originals, on English pages the Indonesian translations
    (only those that differ and are long enough not to be a name or a number)."""
    indonesian = _catalogue("id")
    pairs = [(english, indonesian.get(english, "")) for english in indonesian]
    phrases = [english if lang == "id" else translated for english, translated in pairs if translated != english]
    return sorted({p for p in phrases if len(p) >= 8 and " " in p and "%(" not in p and "{" not in p})


def _unreadable(text: str, lang: str) -> list[str]:
    found = [m.group(0) for m in RAW.finditer(text)]
    found += [p for p in _foreign_phrases(lang) if p in text]
    if lang == "id":
        found += [
            f"english word {m.group(0)!r} in: {line.strip()[:80]}"
            for line in text.splitlines()
            for m in ENGLISH_WORDS.finditer(line)
        ]
    return found


@pytest.fixture
def dmk01(demo_centre: LiveCentre) -> Iterator[int]:
    unit = db.session.query(Unit).filter_by(callsign="DMK-01").one()
    yield unit.id
    db.session.remove()


@pytest.mark.parametrize("username", sorted(PAGES))
def test_every_page_speaks_the_readers_language_and_passes_axe(
    demo_centre: LiveCentre,
    browser: Any,
    backend: str,
    dmk01: int,
    username: str,
) -> None:
    assert AXE.exists(), "axe-core missing: `npm ci` installs it (package.json devDependencies)"
    errors: list[str] = []
    page = console(browser, demo_centre, username, errors, viewport={"width": 1600, "height": 900}, bypass_csp=True)
    problems: list[str] = []
    for lang in ("id", "en"):
        if lang == "en":
            with page.expect_navigation():
                page.select_option("header select[name=lang]", "en")
        for path in PAGES[username]:
            page.goto(demo_centre.url + path.replace("{DMK-01}", str(dmk01)))
            page.wait_for_function(LOADED)
            assert page.locator("html").get_attribute("lang") == lang
            text = page.evaluate(TEXT_OF_PAGE)
            problems += [f"{lang} {path}: {p}" for p in _unreadable(text, lang)]
            page.add_script_tag(path=str(AXE))
            violations = page.evaluate(SERIOUS_VIOLATIONS)
            problems += [f"{lang} {path}: axe {v}" for v in violations]
            name = path.strip("/").split("?")[0].replace("/", "-")
            page.screenshot(path=str(_shots() / f"{username}-{name}-{lang}-1600x900.png"))
    assert problems == []
    assert errors == []


def _shots() -> Path:
    folder = artefacts() / "pages"
    folder.mkdir(exist_ok=True)
    return folder
