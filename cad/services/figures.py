"""The manager's figures for a period (today, this week, this month, a range of days): calls,
incidents by type, response times (from the timeline)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cad.domain.calls import CallDisposition, CallState
from cad.domain.timeline import EventKind
from cad.models import Call, Incident, TimelineEvent
from reports.archive import PeriodKind, period_of
from reports.stats import nearest_rank

#: The longest range of days the manager's page shows at once (the report API's limit is longer).
MAX_RANGE_DAYS = 366


class PeriodChoice(StrEnum):
    TODAY = "today"
    WEEK = "week"
    MONTH = "month"
    RANGE = "range"


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


def period_window(
    choice: PeriodChoice, now: datetime, tz: str, first: date | None = None, last: date | None = None
) -> tuple[datetime, datetime]:
    """The UTC bounds of a period in local days: today, this week (from Monday), this month, or the
    days `first` to `last` inclusive. Raises ValueError naming `from` or `to` for a bad range."""
    if choice is PeriodChoice.TODAY:
        return local_day(now, tz)
    local_today = now.astimezone(ZoneInfo(tz)).date()
    if choice is PeriodChoice.WEEK:
        week = period_of(PeriodKind.WEEKLY, local_today, tz)
        return week.start, week.end
    if choice is PeriodChoice.MONTH:
        month = period_of(PeriodKind.MONTHLY, local_today, tz)
        return month.start, month.end
    if first is None:
        raise ValueError("from")
    if last is None:
        raise ValueError("to")
    if last < first or (last - first).days >= MAX_RANGE_DAYS:
        raise ValueError("to")
    zone = ZoneInfo(tz)
    start = datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(ZoneInfo("UTC"))
    after = last + timedelta(days=1)
    return start, datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(ZoneInfo("UTC"))


def today(session: Session, now: datetime, tz: str) -> Today:
    return for_window(session, *local_day(now, tz))


def for_window(session: Session, start: datetime, end: datetime) -> Today:
    """The figures of calls received and incidents created in [start, end)."""
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
    # response: from the incident's creation to the first unit on scene, per incident created in the window
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
    seconds = sorted(max(0.0, (arrived - created).total_seconds()) for created, arrived in rows if arrived is not None)
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
        # nearest-rank, as every report (README "Reports"): the median of an even count is the lower middle one
        response_median_s=nearest_rank(seconds, 50) if seconds else None,
        response_p90_s=nearest_rank(seconds, 90) if seconds else None,
    )
