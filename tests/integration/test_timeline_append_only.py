"""Nothing updates or deletes timeline rows: not the ORM, not bulk statements, not raw SQL."""

import factories as f
import pytest
import sqlalchemy as sa
from flask import Flask

from cad.db import db
from cad.domain.timeline import EventKind
from cad.models import TimelineEvent
from cad.timeline import TimelineIsAppendOnly, record_event


@pytest.fixture
def event_id(app: Flask) -> int:
    unit = f.unit("DMK-01")
    row = record_event(
        db.session, EventKind.UNIT_STATUS_CHANGED, actor="test", unit_id=unit.id, data={"to": "out_of_service"}
    )
    db.session.commit()
    return row.id


def test_orm_update_is_refused(event_id: int) -> None:
    row = db.session.get(TimelineEvent, event_id)
    row.kind = "unit_cleared"
    with pytest.raises(TimelineIsAppendOnly):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(TimelineEvent, event_id).kind == "unit_status_changed"


def test_orm_delete_is_refused(event_id: int) -> None:
    db.session.delete(db.session.get(TimelineEvent, event_id))
    with pytest.raises(TimelineIsAppendOnly):
        db.session.commit()
    db.session.rollback()


@pytest.mark.parametrize(
    "statement",
    [
        sa.update(TimelineEvent).values(actor="someone else"),
        sa.delete(TimelineEvent),
    ],
)
def test_orm_bulk_statements_are_refused(event_id: int, statement: sa.Executable) -> None:
    with pytest.raises(TimelineIsAppendOnly):
        db.session.execute(statement)
    db.session.rollback()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE timeline_events SET actor = 'forged'",
        "DELETE FROM timeline_events",
    ],
)
def test_the_database_itself_refuses_raw_sql(event_id: int, sql: str) -> None:
    with db.engine.connect() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.text(sql))
        conn.commit()
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT actor FROM timeline_events")).all()
    assert rows == [("test",)]


def test_an_event_belongs_somewhere(app: Flask) -> None:
    with pytest.raises(ValueError):
        record_event(db.session, EventKind.INCIDENT_CREATED, actor="test")
