"""Today's figures for the manager: calls, incidents by type, response times (from the timeline)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cad.domain.calls import CallDisposition, CallState
from cad.domain.timeline import EventKind
from cad.models import Call, Incident, TimelineEvent


@dataclass(frozen=True)
class Today:
    start: datetime  # UTC instant of local midnight
    end: datetime
    calls: int
    calls_abandoned: int
    calls_prank: int
    incidents: int
    incidents_open: int
    by_type: dict[str, int] = field(default_factory=dict)
    responses: int = 0
    response_median_s: float | None = None
    response_p90_s: float | None = None


def local_day(now: datetime, tz: str) -> tuple[datetime, datetime]:
    """The UTC bounds of the local calendar day that contains `now`."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.astimezone(ZoneInfo("UTC")), (midnight + timedelta(days=1)).astimezone(ZoneInfo("UTC"))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (`q` in 0..100) of `values`, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def today(session: Session, now: datetime, tz: str) -> Today:
    start, end = local_day(now, tz)
    in_day = (Call.received_at >= start, Call.received_at < end)
    calls = session.scalar(select(func.count(Call.id)).where(*in_day)) or 0
    abandoned = session.scalar(select(func.count(Call.id)).where(*in_day, Call.state == CallState.ABANDONED)) or 0
    prank = session.scalar(select(func.count(Call.id)).where(*in_day, Call.disposition == CallDisposition.PRANK)) or 0
    incident_day = (Incident.created_at >= start, Incident.created_at < end)
    by_type = {
        str(kind): int(count)
        for kind, count in session.execute(
            select(Incident.type, func.count(Incident.id)).where(*incident_day).group_by(Incident.type)
        )
    }
    open_now = session.scalar(select(func.count(Incident.id)).where(*incident_day, Incident.closed_at.is_(None))) or 0
    # response: from the incident's creation to the first unit on scene, per incident created today
    first_on_scene = (
        select(TimelineEvent.incident_id, func.min(TimelineEvent.at).label("arrived"))
        .where(TimelineEvent.kind == EventKind.UNIT_ON_SCENE, TimelineEvent.incident_id.is_not(None))
        .group_by(TimelineEvent.incident_id)
        .subquery()
    )
    rows = session.execute(
        select(Incident.created_at, first_on_scene.c.arrived)
        .join(first_on_scene, first_on_scene.c.incident_id == Incident.id)
        .where(*incident_day)
    ).all()
    seconds = [max(0.0, (arrived - created).total_seconds()) for created, arrived in rows if arrived is not None]
    return Today(
        start=start,
        end=end,
        calls=calls,
        calls_abandoned=abandoned,
        calls_prank=prank,
        incidents=sum(by_type.values()),
        incidents_open=open_now,
        by_type=by_type,
        responses=len(seconds),
        response_median_s=statistics.median(seconds) if seconds else None,
        response_p90_s=percentile(seconds, 90),
    )
