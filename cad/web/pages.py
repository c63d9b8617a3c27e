"""The consoles: login, and one page per role (call-taker, dispatcher, crew, manager, admin audit).

The pages are shells: they render who is logged in and the settings their script needs, and the
script reads and changes everything through the JSON API with the session cookie and the CSRF
token, and listens to `/api/v1/events` to follow changes without reloading.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user
from markupsafe import Markup
from sqlalchemy import select

from cad import clock
from cad.api.schemas import MAX_ID
from cad.db import db
from cad.domain.incidents import DISPOSITION_LABELS, INCIDENT_TYPE_LABELS, Disposition, IncidentType
from cad.models import AuditEntry, Role, Unit, User
from cad.services import figures
from cad.services.reports import response_time_report
from cad.web.coverage_labels import coverage_labels
from cad.web.i18n import LANGUAGES, current_language, zone_name
from cad.web.security import (
    CSRF_KEY,
    LoginUser,
    audit,
    client_ip,
    csrf_token,
    password_matches,
    session_user,
)
from dispatch.timers import parse_ack_timeouts
from dispatch.units import UnitStatus
from reports.archive import list_archive
from reports.render import report_charts

pages = Blueprint(
    "pages", __name__, template_folder="templates", static_folder="static", static_url_path="/static/consoles"
)

HOME = {
    Role.CALL_TAKER: "pages.calltaker",
    Role.DISPATCHER: "pages.dispatcher",
    Role.CREW: "pages.crew",
    Role.MANAGER: "pages.manager",
    Role.ADMIN: "pages.dispatcher",
}


def console(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A page for these roles (and admin): others logged in get 403, nobody logged in goes to login."""
    allowed = {*roles, Role.ADMIN}

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(*args: Any, **kwargs: Any) -> Any:
            user = session_user()
            if user is None:
                return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
            if user.role not in allowed:
                abort(403)
            g.user = user
            return fn(*args, **kwargs)

        return view

    return decorate


def _safe_next(target: str | None) -> str | None:
    """Only a path of this site (no scheme, no host, no `//`): never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def labels() -> dict[str, Any]:
    """What the scripts show, in the page's language."""
    return {
        "types": {str(t): INCIDENT_TYPE_LABELS[t][current_language()] for t in IncidentType},
        "unit_status": {
            "available": _("available"),
            "assigned": _("assigned"),
            "acknowledged": _("acknowledged"),
            "en_route": _("en route"),
            "on_scene": _("on scene"),
            "transporting": _("transporting"),
            "at_hospital": _("at hospital"),
            "out_of_service": _("out of service"),
        },
        "incident_status": {
            "new": _("new"),
            "dispatched": _("dispatched"),
            "on_scene": _("on scene"),
            "closed": _("closed"),
            "cancelled": _("cancelled"),
        },
        "call_state": {
            "waiting": _("waiting in queue"),
            "ringing": _("ringing"),
            "answered": _("answered"),
            "ended": _("ended"),
            "abandoned": _("abandoned"),
            "overflowed": _("sent to the overflow centre"),
            "dropped": _("cut off (the SIP agent died): call back"),
        },
        "congestion": {
            "free": _("free"),
            "slow": _("slow"),
            "heavy": _("heavy"),
            "jam": _("jam"),
            "closed": _("road closed"),
        },
        "words": {
            "dispatch": _("Dispatch"),
            "dispatch_all": _("Dispatch run card"),
            "no_units": _("No capable unit available"),
            "waiting": _("waiting"),
            "ack_overdue": _("not acknowledged!"),
            "min": _("min"),
            "km": _("km"),
            "answer": _("Answer"),
            "link": _("Link to this incident"),
            "no_nearby": _("No open incident nearby"),
            "earlier_calls": _("Earlier calls"),
            "prank_flags": _("Prank flags"),
            "no_history": _("First call from this number"),
            "unknown_caller": _("Number withheld"),
            "saved": _("Saved"),
            "error": _("Error"),
            "no_assignment": _("No assignment. Stay available."),
            "reconnecting": _("Connection lost: reconnecting…"),
            "live": _("Live"),
            "select_incident": _("Select an incident in the queue"),
            "no_location": _("no location"),
            "incident_created": _("Incident created"),
            "call_linked": _("Call linked"),
            "marked_prank": _("Marked as prank"),
            "route": _("Route"),
            "units": _("Units"),
            "reply": _("Reply"),
            "not_delivered": _("not delivered"),
            "close": _("Close incident"),
            "cancel": _("Cancel incident"),
            "cancel_confirm": _("Cancel this incident and call back every unit?"),
            "intake_failed": _("A call could not be recorded"),
            "intake_resolve": _("Handled (called back)"),
            "location_ref": _("Location by reference"),
            "zoom_in": _("Zoom in"),
            "zoom_out": _("Zoom out"),
            "sound_on": _("Sound on"),
            "sound_off": _("Sound off: alarms are silent"),
            "edit": _("Edit"),
            "save": _("Save"),
            "type": _("Type"),
            "priority": _("Priority"),
            "address": _("Address"),
            "description": _("Description"),
            "disposition": _("Outcome"),
            "choose_disposition": _("— how did it end? —"),
            "reason": _("Reason"),
            "release": _("Release"),
            "release_units": _("Release the units still committed"),
            "return_to_station": _("Back to station"),
            "merge": _("Merge duplicate"),
            "merge_into": _("Merge into incident"),
            "merge_help": _("This incident is the same emergency as another: its calls, units and timeline go there."),
            "no_other_incident": _("No other open incident"),
            "preempt": _("Take a unit from a less urgent incident"),
            "preempt_take": _("Take"),
            "preempt_none": _("No unit on its way to a less urgent incident"),
            "preempt_confirm": _("Yes: take {unit} from {from} for {to}"),
            "declined": _("crew cannot go"),
            "cannot_go": _("Cannot go"),
            "decline_why": _("Why?"),
            "declined_sent": _("The dispatcher has been told"),
            "job_released": _("Job withdrawn by the dispatcher"),
            "eta": _("{m} min {s} s"),
            "from_station_gps": _("from station — GPS {m} min old"),
            "from_station_no_gps": _("from station — no GPS"),
            "road_closed_walk": _("road closed: walk {m} m"),
            "walk_from_stop": _("vehicle cannot reach: walk {m} m"),
            "all_units": _("All units ({n})"),
            "fewer_units": _("Best units only"),
            "vehicle_stop": _("Vehicle stops at"),
            "last_route": _("last route received"),
            # call-taker, keyboard first
            "nothing_ringing": _("No call is ringing"),
            "call_ended": _("Call ended"),
            "caller_location": _("caller's location"),
            "address_point": _("address point"),
            "choose_type": _("Choose the incident type (Type): keys 1–7"),
            "choose_priority": _("Choose the priority (Priority): keys 1–4"),
            "choose_place": _("Give an address or a place on the map (Address)"),
            "placed_at": _("placed at"),
            "navigate": _("Navigate"),
            "sound_enable": _("Turn on sound"),
        },
        "alerts": {  # alerts.js
            "unassigned": _("no unit sent yet!"),
            "level": _("level"),
            "waiting": _("waiting"),
            "acknowledge": _("Acknowledge"),
            "send_next": _("Send the next unit"),
            "eta": _("{m} min {s} s"),
            "taken": _("was taken meanwhile: next recommendation"),
            "mute": _("Mute the alarm"),
            "unmute": _("Sound the alarm again"),
            "sound_blocked": _("Click anywhere on the page to let the alarm sound"),
        },
        "dispositions": {str(d): DISPOSITION_LABELS[d][current_language()] for d in Disposition},
        # the run cards' names as read on screen (a card of one's own is shown by its name)
        "run_cards": {
            **{str(t): INCIDENT_TYPE_LABELS[t][current_language()] for t in IncidentType},
            "kebakaran_besar": _("Large fire"),
        },
        # what a refusal means, by its code (the server's own words are English: see common.js)
        "errors": {
            "invalid": _("Not accepted: check what was entered"),
            "invalid_json": _("Not accepted: check what was entered"),
            "bad_request": _("Not accepted: check what was entered"),
            "unauthorized": _("Your session ended: log in again"),
            "forbidden": _("Not allowed for your role"),
            "csrf": _("The page is out of date: reload it"),
            "not_found": _("Not found: it may have been closed or removed"),
            "conflict": _("It changed meanwhile: look again and retry"),
            "illegal_transition": _("Not possible in its present status"),
            "unit_unavailable": _("The unit is no longer available"),
            "rate_limited": _("Too many requests: wait a moment"),
            "no_road_network": _("No road map is loaded"),
            "no_route": _("No road leads there"),
            "outside_road_network": _("Outside the road map"),
            "server": _("The centre is busy: try again"),
            "database_busy": _("The centre is busy: try again"),
            "database_unavailable": _("The centre is busy: try again"),
        },
        "fields": {
            "type": _("Type"),
            "priority": _("Priority"),
            "address": _("Address"),
            "location": _("Location"),
            "description": _("Description"),
            "disposition": _("Outcome"),
            "reason": _("Reason"),
            "version": _("someone else changed it"),
            "status": _("Status"),
            "unit_id": _("Unit"),
            "unit_ids": _("Unit"),
            "incident_id": _("Incident"),
            "into": _("Incident"),
            "caller_phone": _("Caller's number"),
        },
        "location_sources": {
            "pidf-lo": _("network location (PIDF)"),
            "aml": _("handset location (AML)"),
            "gps": _("GPS"),
            "geocoded": _("address point"),
            "manual": _("point on the map"),
        },
        "decline_reasons": {
            "rusak": _("Vehicle broken down"),
            "sibuk": _("Busy elsewhere"),
            "lainnya": _("Other reason"),
        },
        "coverage": coverage_labels(),
    }


def page_config(**extra: Any) -> dict[str, Any]:
    settings = current_app.config["WARROOM"]
    user = session_user()
    return {
        "api": "/api/v1",
        "csrf": csrf_token(),
        "tz": settings.timezone,
        "zone": zone_name(settings.timezone),
        "lang": current_language(),
        "tiles": settings.map_tiles,
        "leaflet": url_for("pages.static", filename="vendor/leaflet/"),
        "ack_timeouts": {str(k): v for k, v in parse_ack_timeouts(settings.ack_timeouts).items()},
        "role": str(user.role) if user else None,
        "unit_id": user.unit_id if user else None,
        "labels": labels(),
        **extra,
    }


@pages.get("/")
def home() -> Response:
    user = session_user()
    if user is None:
        return redirect(url_for("pages.login"))  # type: ignore[return-value]
    return redirect(url_for(HOME[user.role]))  # type: ignore[return-value]


@pages.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    next_page = _safe_next(request.values.get("next"))
    if request.method == "POST":
        # NUL, which no database column takes, is no one's name: U+FFFD finds nobody, never a 500
        username = request.form.get("username", "").replace("\x00", "\ufffd").strip()[:64]
        password = request.form.get("password", "")[:1024]
        guard = current_app.extensions["warroom.login_guard"]
        address = client_ip() or "unknown"
        wait = guard.attempt(username, address)
        if wait > 0:
            audit("login_locked", None, None, 429, username=username)
            error = _("Too many failed logins. Try again in %(minutes)s minutes.", minutes=int(wait // 60) + 1)
            return render_template("login.html", error=error, next=next_page), 429
        guard.slow_down(username, address)
        user = db.session.scalar(select(User).where(User.username == username)) if username else None
        if not password_matches(user, password):
            guard.failed(username, address)
            audit("login_failed", None, None, 401, username=username)
            error = _("Wrong user name or password.")
            return render_template("login.html", error=error, next=next_page), 401
        assert user is not None
        guard.succeeded(username, address)
        lang = session.get("lang")
        session.clear()  # a fresh session (and CSRF token) for the logged-in person
        if lang:
            session["lang"] = lang
        session.permanent = True
        login_user(LoginUser(user))
        g.audited = True
        audit("login", user, None, 303)
        return redirect(next_page or url_for(HOME[user.role]), code=303)
    return render_template("login.html", error=error, next=next_page)


@pages.post("/logout")
def logout() -> Response:
    user = session_user()
    if user is not None:
        g.audited = True
        audit("logout", user, None, 303)
    logout_user()
    session.pop(CSRF_KEY, None)
    return redirect(url_for("pages.login"), code=303)  # type: ignore[return-value]


@pages.post("/language")
def language() -> Response:
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
    g.audited = True  # a preference, not an action on the centre's data
    return redirect(_safe_next(request.form.get("next")) or url_for("pages.home"), code=303)  # type: ignore[return-value]


@pages.get("/calltaker")
@console(Role.CALL_TAKER, Role.DISPATCHER)
def calltaker() -> str:
    return render_template(
        "calltaker.html", cfg=page_config(link_radius_m=current_app.config["WARROOM"].link_radius_m), types=_types()
    )


@pages.get("/dispatcher")
@console(Role.DISPATCHER)
def dispatcher() -> str:
    return render_template("dispatcher.html", cfg=page_config())


#: Directions to the scene on the web, beside the phone's own navigation app (the `geo:` link).
NAVIGATION_LINKS = {
    "Google Maps": "https://www.google.com/maps/dir/?api=1&destination={lat},{lon}",
    "OSM": "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}",
}


@pages.get("/crew")
@console(Role.CREW, Role.DISPATCHER)
def crew() -> str:
    user = g.user
    if user.role is Role.CREW:
        if user.unit_id is None:
            abort(403)
        unit_id = user.unit_id
    else:  # a dispatcher or admin looks at one unit's crew page
        unit_id = request.args.get("unit", type=int) or 0
    unit = db.session.get(Unit, unit_id) if 0 < unit_id <= MAX_ID else None  # the column's range
    if unit is None:
        abort(404)
    moves = [s for s in UnitStatus if s not in (UnitStatus.ASSIGNED, UnitStatus.OUT_OF_SERVICE)]
    cfg = page_config(unit_id=unit.id, navigation=NAVIGATION_LINKS)
    return render_template("crew.html", cfg=cfg, unit=unit, moves=[str(m) for m in moves])


def period_titles() -> dict[str, str]:
    return {
        figures.PeriodChoice.TODAY: _("Today"),
        figures.PeriodChoice.WEEK: _("This week"),
        figures.PeriodChoice.MONTH: _("This month"),
        figures.PeriodChoice.RANGE: _("Date range"),
    }


def _day_arg(name: str) -> date | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10]) if len(raw) == 10 else None
    except ValueError:
        return None


@pages.get("/manager")
@console(Role.MANAGER)
def manager() -> Any:
    """The figures and the report's charts of a period the manager picks (today by default)."""
    settings = current_app.config["WARROOM"]
    now = clock.now()
    raw_choice = request.args.get("period", "today")
    context: dict[str, Any] = {"cfg": page_config(), "types": _types(), "now": now, "titles": period_titles()}
    try:
        choice = figures.PeriodChoice(raw_choice)
    except ValueError:
        choice, error = figures.PeriodChoice.TODAY, ("period", raw_choice)
    else:
        error = None
    first, last = _day_arg("from"), _day_arg("to")
    if error is None:
        try:
            start, end = figures.period_window(choice, now, settings.timezone, first, last)
        except ValueError as bad:
            field = str(bad)
            error = (field, request.args.get(field, ""))
    context |= {"choice": choice, "first": first, "last": last}
    if error is not None:
        field, value = error
        message = _("%(field)s: not a valid choice or day (%(value)s)", field=field, value=value[:20] or "—")
        return render_template("manager.html", error=message, error_field=field, **context), 400
    period = figures.for_window(db.session, start, end)
    made = response_time_report(db.engine, (start, end), settings, now)
    lang = current_language()
    window = {"from": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "to": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "lang": lang}
    return render_template(
        "manager.html",
        period=period,
        days=tuple(
            t.astimezone(ZoneInfo(settings.timezone)).strftime("%d-%m-%Y") for t in (start, end - timedelta(seconds=1))
        ),
        charts=[(alt, Markup(svg)) for alt, svg in report_charts(made, lang)],  # our own SVG, its text escaped
        report_query=urlencode(window),
        **context,
    )


@pages.get("/manager/reports")
@console(Role.MANAGER, Role.DISPATCHER)
def report_archive() -> str:
    """The archived weekly and monthly PDF reports, newest first, each with its download link."""
    archived = list_archive(current_app.config["WARROOM"].report_archive_path)
    return render_template("report_archive.html", cfg=page_config(), archived=archived)


@pages.get("/admin/audit")
@console()
def audit_log() -> str:
    before = request.args.get("before", type=int)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(200)
    if before and 0 < before <= MAX_ID:  # the column's range: any other is no page of ours
        query = query.where(AuditEntry.id < before)
    return render_template("audit.html", cfg=page_config(), entries=list(db.session.scalars(query)))


def _types() -> list[tuple[str, str]]:
    return [(str(t), INCIDENT_TYPE_LABELS[t][current_language()]) for t in IncidentType]
