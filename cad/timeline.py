"""record_event(): the only writer of the incident timeline, and the guards that keep it append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from cad import clock
from cad.domain.timeline import EventKind
from cad.models import TimelineEvent


class TimelineIsAppendOnly(RuntimeError):
    pass


def record_event(
    session: Session,
    kind: EventKind,
    *,
    actor: str,
    at: datetime | None = None,
    incident_id: int | None = None,
    call_id: int | None = None,
    unit_id: int | None = None,
    source: str | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    """Append one event. `at` is when it happened (UTC); `recorded_at` is when we wrote it."""
    if incident_id is None and call_id is None and unit_id is None:
        raise ValueError("a timeline event belongs to an incident, a call or a unit")
    written = clock.now()
    row = TimelineEvent(
        kind=str(kind),
        at=at or written,
        recorded_at=written,
        actor=actor,
        incident_id=incident_id,
        call_id=call_id,
        unit_id=unit_id,
        source=source,
        data=data or {},
    )
    session.add(row)
    return row


@event.listens_for(TimelineEvent, "before_update")
def _refuse_update(*_args: Any) -> None:
    raise TimelineIsAppendOnly("timeline events are never updated")


@event.listens_for(TimelineEvent, "before_delete")
def _refuse_delete(*_args: Any) -> None:
    raise TimelineIsAppendOnly("timeline events are never deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state: ORMExecuteState) -> None:
    if (
        (state.is_update or state.is_delete)
        and state.bind_mapper is not None
        and state.bind_mapper.class_ is TimelineEvent
    ):
        raise TimelineIsAppendOnly("timeline events are never updated or deleted")
