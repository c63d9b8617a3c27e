"""`/c/<code>`: the page a crew opens from the SMS link: the job, its route, and buttons to
acknowledge, leave and arrive. The code in the link is the credential, good for this one job.
(The full crew console with login is the consoles' work; this page needs none.)"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from cad import clock
from cad.api.crew import give_route
from cad.db import db
from cad.domain.incidents import INCIDENT_TYPE_LABELS, IncidentType
from cad.errors import ApiError
from cad.roads import travel_times
from cad.services.dispatching import decline_assignment, set_unit_status
from cad.services.notify import assignment_by_code
from dispatch.units import PREEMPTABLE, DeclineReason, UnitStatus, change_unit_status

crew_pages = Blueprint("crew_link", __name__, template_folder="templates")
#: What the link page's "tidak bisa" buttons say (the page is Indonesian, as the SMS is).
DECLINE_LABELS = {
    DeclineReason.BREAKDOWN: "Kendaraan rusak",
    DeclineReason.BUSY: "Sibuk",
    DeclineReason.OTHER: "Alasan lain",
}
CREW_MOVES = {"acknowledged": UnitStatus.ACKNOWLEDGED, "en_route": UnitStatus.EN_ROUTE, "on_scene": UnitStatus.ON_SCENE}


def closed_road_names(route: dict[str, Any] | None) -> list[str]:
    """The names of the roads a camera closed that the route meets or goes round."""
    edges = [] if route is None else [*route["congested_edges_avoided"], *route["congested_edges_on_route"]]
    return sorted({e["name"] for e in edges if e["level"] == "closed" and e["name"]})


def eta_text(seconds: float) -> str:
    """An arrival time to the second, as the crew reads it: "3 mnt 20 dtk"."""
    whole = max(0, round(seconds))
    return f"{whole // 60} mnt {whole % 60} dtk"


@crew_pages.get("/c/<code>")
def job(code: str) -> str:
    assignment = assignment_by_code(db.session, code)
    unit, incident = assignment.unit, assignment.incident
    route = give_route(assignment, "opened") if assignment.active else None
    moves = []
    for name, status in CREW_MOVES.items():
        try:
            change_unit_status(unit.status, status)
        except ValueError:
            continue
        moves.append(name)
    closed_roads = closed_road_names(route)
    return render_template(
        "crew_job.html",
        assignment=assignment,
        unit=unit,
        incident=incident,
        route=route,
        eta_text=eta_text(float(route["eta_s"])) if route else "",
        closed_roads=closed_roads,
        moves=moves,
        declinable=assignment.active and UnitStatus(unit.status) in PREEMPTABLE,
        reasons=DECLINE_LABELS,
        type_label=INCIDENT_TYPE_LABELS[IncidentType(incident.type)]["id"],
        now=clock.now(),
    )


@crew_pages.post("/c/<code>/status")
def move(code: str) -> Response:
    assignment = assignment_by_code(db.session, code)
    requested = CREW_MOVES.get(request.form.get("status", ""))
    if requested is None or not assignment.active:
        raise ApiError("this job cannot take that status now", "status", code="illegal_transition", status=409)
    unit = assignment.unit
    set_unit_status(db.session, unit.id, requested, None, actor=f"crew:{unit.callsign}", source="crew-link")
    return redirect(url_for("crew_link.job", code=code), code=303)  # type: ignore[return-value]


@crew_pages.post("/c/<code>/decline")
def decline(code: str) -> Response:
    """The crew cannot go: the same use case as the crew phone's, for this job only."""
    from flask import current_app

    assignment = assignment_by_code(db.session, code)
    try:
        reason = DeclineReason(request.form.get("reason", ""))
    except ValueError:
        raise ApiError(f"reason: expected one of {', '.join(DeclineReason)}", "reason", code="invalid") from None
    if not assignment.active:
        raise ApiError("this job is no longer yours", "code", code="conflict", status=409)
    unit = assignment.unit
    settings = current_app.config["WARROOM"]
    decline_assignment(
        db.session,
        unit.id,
        reason,
        None,
        None,
        travel_times(current_app.extensions["warroom.roads"], db.session),
        stale_after_s=settings.position_stale_s,
        actor=f"crew:{unit.callsign}",
        code=code,
    )
    return redirect(url_for("crew_link.job", code=code), code=303)  # type: ignore[return-value]
