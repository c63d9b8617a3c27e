"""Languages and times on screen: Indonesian by default, English selectable; times in the centre's zone.

The catalogues are committed as .po files; the app compiles them to .mo in its instance folder
when they are missing or older than the .po (a fresh clone needs no extra step).
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, session
from flask_babel import Babel, refresh

log = logging.getLogger(__name__)
TRANSLATIONS = Path(__file__).parent / "translations"
LANGUAGES = {"id": "Bahasa Indonesia", "en": "English"}
DEFAULT_LANGUAGE = "id"
#: What people in Indonesia call the three zones; other zones show their own abbreviation.
ZONE_NAMES = {"Asia/Makassar": "WITA", "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Jayapura": "WIT"}


def compile_catalogues(source: Path, target: Path) -> Path:
    """Every `<lang>/LC_MESSAGES/messages.po` under `source` as .mo under `target` (only when stale)."""
    for po_path in sorted(source.glob("*/LC_MESSAGES/messages.po")):
        mo_path = target / po_path.relative_to(source).with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as handle:
            catalogue = read_po(handle, locale=po_path.parts[-3])
        # each writer its own partial file, renamed whole: gunicorn's workers start together and
        # compile together (one shared name let a worker rename the file another was still
        # writing, and the other's rename then failed: "Worker failed to boot", the whole server down)
        partial = mo_path.with_name(f".{mo_path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        with partial.open("wb") as handle:
            write_mo(handle, catalogue)
        partial.replace(mo_path)  # a reader, or another writer's rename, sees a whole file
    return target


def current_language() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def zone_name(tz: str) -> str:
    return ZONE_NAMES.get(tz) or datetime.now(ZoneInfo(tz)).tzname() or tz


def local_time(value: datetime | None, fmt: str = "%H:%M") -> str:
    """A UTC time as the centre's wall clock, e.g. `14:05 WITA`."""
    if value is None:
        return "—"
    tz = current_app.config["WARROOM"].timezone
    return f"{value.astimezone(ZoneInfo(tz)).strftime(fmt)} {zone_name(tz)}"


def role_label(role: object) -> str:
    """A role as the person reads it, never its identifier (`call_taker`)."""
    from flask_babel import gettext as _

    labels = {
        "call_taker": _("call-taker"),
        "dispatcher": _("dispatcher"),
        "crew": _("crew"),
        "manager": _("manager"),
        "admin": _("administrator"),
    }
    return labels.get(str(role), str(role))


def init_i18n(app: Flask) -> None:
    settings = app.config["WARROOM"]
    compiled = compile_catalogues(TRANSLATIONS, settings.instance_path / "translations")
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(compiled)
    Babel(app, locale_selector=current_language, timezone_selector=lambda: settings.timezone)
    app.before_request(refresh)  # the language is the request's, even inside a longer app context
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.globals["role_label"] = role_label
