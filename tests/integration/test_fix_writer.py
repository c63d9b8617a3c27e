"""Single GPS fixes written together on PostgreSQL (group commit): each request still gets its own
outcome, nothing is answered before it is committed, and a bad fix never sinks the others."""

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import factories as f
import pytest
import sqlalchemy as sa
from flask import Flask

from cad.db import db
from cad.errors import DatabaseUnavailable
from cad.models import LiveEvent, Position, Unit
from cad.services.fix_writer import FixWriter, Written, _Waiting

#: The fix writer writes through connections of its own: the factories commit.
pytestmark = [
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
    pytest.mark.usefixtures("committing_factories"),
]

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def fix(unit_id: int, at: datetime, lat: float = -1.26) -> dict[str, Any]:
    event = json.dumps({"id": unit_id, "position": {"lat": lat, "lon": 116.84}})
    return {
        "unit_id": unit_id,
        "lat": lat,
        "lon": 116.84,
        "fix_at": at,
        "received_at": T0 + timedelta(minutes=1),
        "accuracy_m": 8.0,
        "speed_mps": None,
        "bearing_deg": 90.0,
        "battery_pct": None,
        "event": event,
    }


def write_together(app: Flask, values: list[dict[str, Any]]) -> list[Written | None]:
    """Queue all but the last as if other requests were waiting, then write the last as leader:
    one statement takes them all."""
    writer = FixWriter()
    queued = [_Waiting(v) for v in values[:-1]]
    writer._queue.extend(queued)
    writer._writing = False
    last = writer.write(db.engine, values[-1])
    assert all(w.done.is_set() for w in queued)
    return [w.written for w in queued] + [last]


def unit_at(unit_id: int) -> tuple[float | None, datetime | None]:
    db.session.expire_all()
    row = db.session.get(Unit, unit_id)
    return row.lat, row.position_at


def test_one_statement_gives_each_fix_its_own_outcome(app: Flask) -> None:
    a = f.unit("DAMKAR-1", fix_age_s=None)
    b = f.unit("DAMKAR-2", fix_age_s=None)
    db.session.add(Position(unit_id=b.id, lat=-1.0, lon=116.0, fix_at=T0, received_at=T0, source="gps"))
    db.session.commit()
    a_id, b_id = a.id, b.id
    events_before = db.session.scalar(sa.select(sa.func.count()).select_from(LiveEvent))

    outcomes = write_together(
        app,
        [
            fix(a_id, T0 + timedelta(seconds=1), lat=-1.1),  # older fix of a: history
            fix(a_id, T0 + timedelta(seconds=5), lat=-1.5),  # newest of a: moves it
            fix(b_id, T0, lat=-1.9),  # b already has this fix: a duplicate
            fix(a_id, T0 + timedelta(seconds=5), lat=-1.5),  # the same fix twice in the batch
            fix(999_999, T0),  # no such unit
            fix(b_id, T0 + timedelta(seconds=2), lat=-1.2),  # b's news
        ],
    )

    older, newest, b_dup, a_repeat, ghost, b_new = outcomes
    assert older is not None and older.known and older.stored and older.moved_status is None
    assert newest is not None and newest.stored and newest.moved_status == "available" and newest.event_id
    assert b_dup is not None and b_dup.known and not b_dup.stored and b_dup.moved_status is None
    assert a_repeat is not None and not a_repeat.stored and a_repeat.moved_status is None
    assert ghost is not None and not ghost.known and not ghost.stored
    assert b_new is not None and b_new.moved_status == "available" and b_new.event_id != newest.event_id

    assert unit_at(a_id) == (-1.5, T0 + timedelta(seconds=5))
    assert unit_at(b_id) == (-1.2, T0 + timedelta(seconds=2))
    stored = db.session.execute(sa.select(Position.unit_id, Position.fix_at).order_by(Position.id)).all()
    assert sorted(stored) == sorted(
        [
            (b_id, T0),
            (a_id, T0 + timedelta(seconds=1)),
            (a_id, T0 + timedelta(seconds=5)),
            (b_id, T0 + timedelta(seconds=2)),
        ]
    )
    events = db.session.scalars(sa.select(LiveEvent).where(LiveEvent.id > (events_before or 0))).all()
    assert sorted(e.data["id"] for e in events) == sorted([a_id, b_id])  # one event per unit moved


def test_a_lone_fix_has_the_outcome_it_would_have_in_a_batch(app: Flask) -> None:
    """A lone fix is written by the statement's plain-parameter form, a batch by its arrays: the
    same cases (news, history, a duplicate, no such unit) come out the same either way."""
    alone_id, batched_id, companion_id = (f.unit(f"DAMKAR-{n}", fix_age_s=None).id for n in range(3))
    db.session.commit()
    cases = [(5, -1.5), (1, -1.1), (5, -1.5)]  # news (moves the unit), older (history), the same again
    writer = FixWriter()
    alone, batched = [], []
    for k, (second, lat) in enumerate(cases):
        alone.append(writer.write(db.engine, fix(alone_id, T0 + timedelta(seconds=second), lat=lat)))
        companion = fix(companion_id, T0 + timedelta(seconds=10 + k))  # makes it a batch of two
        batched.append(write_together(app, [companion, fix(batched_id, T0 + timedelta(seconds=second), lat=lat)])[1])
    alone.append(writer.write(db.engine, fix(999_999, T0)))  # no such unit
    batched.append(write_together(app, [fix(companion_id, T0 + timedelta(seconds=20)), fix(999_999, T0)])[1])
    writer.close()

    def outcome(w: Written | None) -> tuple[object, ...]:
        assert w is not None
        return (w.known, w.stored, w.moved_status, w.event_id is not None, w.status, w.lat, w.position_at)

    assert [outcome(w) for w in alone] == [outcome(w) for w in batched]
    assert [outcome(w)[:4] for w in alone] == [
        (True, True, "available", True),
        (True, True, None, False),
        (True, False, None, False),
        (False, False, None, False),
    ]
    assert unit_at(alone_id) == unit_at(batched_id) == (-1.5, T0 + timedelta(seconds=5))


def test_a_fix_older_than_the_units_position_is_history(app: Flask) -> None:
    unit = f.unit("DAMKAR-1", fix_age_s=0)
    unit_id, position_at = unit.id, unit.position_at
    [outcome] = write_together(app, [fix(unit_id, position_at - timedelta(seconds=30), lat=-1.7)])
    assert outcome is not None and outcome.stored and outcome.moved_status is None
    assert outcome.position_at == position_at
    assert unit_at(unit_id)[1] == position_at


def test_many_request_threads_lose_nothing_and_move_each_unit_to_its_newest_fix(app: Flask) -> None:
    units = [f.unit(f"DAMKAR-{n}", fix_age_s=None).id for n in range(8)]
    per_thread, results, errors = 40, [], []
    lock = threading.Lock()

    def send(k: int) -> None:
        writer_outcomes = []
        try:
            with app.app_context():
                for i in range(per_thread):
                    unit_id = units[(k + i) % len(units)]
                    at = T0 + timedelta(milliseconds=10 * i + k)
                    writer_outcomes.append(FIXES.write(db.engine, fix(unit_id, at)))
        except Exception as error:
            errors.append(error)
        with lock:
            results.extend(writer_outcomes)

    FIXES = FixWriter()
    threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert len(results) == 8 * per_thread and all(r.known and r.stored for r in results)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Position)) == 8 * per_thread
    newest = dict(
        db.session.execute(sa.select(Position.unit_id, sa.func.max(Position.fix_at)).group_by(Position.unit_id)).all()
    )
    for unit_id in units:
        assert unit_at(unit_id)[1] == newest[unit_id]


def test_an_unreachable_database_is_a_503_for_every_waiting_request(app: Flask) -> None:
    dead = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/nothing", connect_args={"connect_timeout": 1})
    writer = FixWriter()
    queued = _Waiting(fix(1, T0))
    writer._queue.append(queued)
    with pytest.raises(DatabaseUnavailable):
        writer.write(dead, fix(2, T0))
    assert queued.done.is_set() and queued.written is None and queued.failure
    assert not writer._writing and not writer._queue  # the next request leads afresh
    dead.dispose()


def test_more_requests_at_once_than_pooled_connections_all_get_stored(app: Flask) -> None:
    """Requests waiting for the leader hold no database connection: 30 devices reporting at the
    same moment, each looked up for the first time, against a pool of 15, are all answered."""
    units = [f.unit(f"DAMKAR-{n}", fix_age_s=None) for n in range(30)]
    tokens = [(u.id, f.device_token(u)) for u in units]
    start, answers = threading.Barrier(len(tokens)), []

    def report(token: str) -> None:
        client = app.test_client()
        start.wait()
        at = int((T0 + timedelta(seconds=1)).timestamp() * 1000)
        fix = {"id": token, "lat": -1.26, "lon": 116.84, "timestamp": at}
        answers.append(client.get("/gps/osmand", query_string=fix))

    threads = [threading.Thread(target=report, args=(token,)) for _, token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status_code for r in answers) == [200] * len(tokens)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(Position.unit_id)))) == len(tokens)


def test_a_connection_the_database_dropped_while_idle_costs_no_fix(app: Flask) -> None:
    """The writer keeps one connection of its own and does not ping it before each batch: when the
    database dropped it meanwhile (a restart, an idle timeout), the batch is written on a new one,
    and the request is answered as usual, not with a 503."""
    unit = f.unit("DAMKAR-9", fix_age_s=None)
    writer = FixWriter()
    assert writer.write(db.engine, fix(unit.id, T0)).stored
    with writer._pool(db.engine).connect() as kept:  # the one the first batch used, back in its pool
        pid = kept.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with db.engine.connect() as admin:
        assert admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    later = writer.write(db.engine, fix(unit.id, T0 + timedelta(seconds=5), lat=-1.27))
    assert later.stored and later.moved_status is not None
    assert unit_at(unit.id) == (-1.27, T0 + timedelta(seconds=5))
    with writer._pool(db.engine).connect() as now:
        assert now.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() != pid
    writer.close()
