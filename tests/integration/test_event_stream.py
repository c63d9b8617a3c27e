"""The live event stream's contract: `id:` on every event, `Last-Event-ID` resume with nothing
missed, crews hear only their unit, other processes' changes arrive (by NOTIFY on PostgreSQL,
including a change that commits after a later one), and an open stream holds no database
connection."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import factories as f
import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from live import LiveCentre, Sse, read_events

from cad.db import db
from cad.events import Audience, Change, EventBus
from cad.models import LiveEvent, Role


def _events(url: str, headers: dict[str, str], last_event_id: int | None = None) -> Iterator[Sse]:
    return read_events(url + "/api/v1/events", headers, last_event_id=last_event_id, timeout_s=10)


def _position(stream: Iterator[Sse]) -> int:
    """Read the stream's head up to ': connected'; the last id it announced."""
    last = None
    for block in stream:
        last = block.id if block.id is not None else last
        if block.kind == ":" and block.data == "connected":
            assert last is not None, "the head carries the stream's position"
            return last
    raise AssertionError("the stream ended before it was connected")


def _incident(centre: LiveCentre, token: str, n: int) -> int:
    made = centre.post("/api/v1/incidents", token, json={"type": "medis", "priority": 2, "address": f"Jalan {n}"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _rows_after(after: int) -> list[tuple[int, str, dict]]:
    db.session.remove()
    table = LiveEvent.__table__
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.kind, table.c.data).where(table.c.id > after)).all()
    return [(i, k, d) for i, k, d in rows]


def _insert_elsewhere(conn: sa.Connection, kind: str, data: dict) -> int:
    """A change written as another process would: straight into the table, not through this
    process's bus."""
    from cad import clock

    return int(
        conn.execute(
            sa.insert(LiveEvent.__table__)
            .values(kind=kind, data=data, at=clock.now())
            .returning(LiveEvent.__table__.c.id)
        ).scalar_one()
    )


def test_a_console_that_reconnects_with_last_event_id_gets_every_event_it_missed(served_app: LiveCentre) -> None:
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    first = _events(served_app.url, headers)
    seen = _position(first)
    made = [_incident(served_app, token, 1)]
    block = next(b for b in first if b.kind == "incident")  # live: it carries its id
    assert block.data["id"] == made[0] and block.id is not None and block.id > seen
    seen = block.id
    first.close()  # the console loses its connection …
    made += [_incident(served_app, token, n) for n in (2, 3, 4)]  # … while the room works on
    expected = [i for i, _, _ in _rows_after(seen)]
    assert len(expected) >= 3

    resumed = _events(served_app.url, headers, last_event_id=seen)
    got: list[Sse] = []
    for block in resumed:
        if block.id is not None and block.kind not in (":", ""):
            got.append(block)
        if expected and block.id == expected[-1]:
            break
    resumed.close()
    assert [b.id for b in got if b.id > seen] == expected  # every one, in order, none missed
    assert {b.data["id"] for b in got if b.kind == "incident"} >= set(made[1:])


def test_a_crew_resuming_hears_only_its_own_unit(served_app: LiveCentre) -> None:
    own, other = f.unit("DMK-01"), f.unit("DMK-02")
    _, crew = f.user(Role.CREW, unit=own)
    _, dispatcher = f.user(Role.DISPATCHER)
    token = dispatcher["Authorization"].split()[1]
    stream = _events(served_app.url, crew)
    seen = _position(stream)
    stream.close()
    for unit in (other, own, other, own):
        for status in ("out_of_service", "available"):
            answer = served_app.post(f"/api/v1/units/{unit.id}/status", token, json={"status": status})
            assert answer.status_code == 200, answer.text
    mine = [i for i, kind, data in _rows_after(seen) if Change(i, kind, data).units() == {own.id}]
    assert len(mine) >= 4

    resumed = _events(served_app.url, crew, last_event_id=seen)
    got = []
    for block in resumed:
        if block.kind not in (":", ""):
            got.append(block)
        if block.id == mine[-1]:
            break
    resumed.close()
    assert [b.id for b in got] == mine
    assert all(b.data.get("id") == own.id or b.data.get("unit_id") == own.id for b in got)


def test_a_resume_from_a_position_the_table_no_longer_holds_asks_for_a_reload(served_app: LiveCentre) -> None:
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    _incident(served_app, token, 1)
    _incident(served_app, token, 2)
    table = LiveEvent.__table__
    with db.engine.begin() as conn:  # the hourly sweep took the oldest rows
        oldest = conn.execute(sa.select(sa.func.min(table.c.id))).scalar_one()
        conn.execute(sa.delete(table).where(table.c.id == oldest))
    stream = _events(served_app.url, headers, last_event_id=oldest - 1)
    head = [next(stream) for _ in range(2)]
    stream.close()
    assert head[0].kind == "resync" and head[0].id is not None and head[0].id > oldest


def test_a_stream_that_falls_behind_is_closed_and_what_it_missed_is_replayed(app: Flask) -> None:
    slow = EventBus(backlog=3)
    slow.attach(db.engine)
    from cad.events import publish_after_commit

    stream = slow.stream(Audience())
    head = next(stream)
    start = int(head.split("id: ")[1].split("\n")[0])
    for n in range(5):
        publish_after_commit(db.session, "call", {"id": n})
        db.session.commit()
    rows = _rows_after(start)
    for i, kind, data in rows:
        slow.publish(Change(i, kind, data))
    with pytest.raises(StopIteration):  # behind: closed rather than fed with gaps
        next(stream)
    assert slow.listening() == 0
    replay = slow.stream(Audience(), last_event_id=start)
    text = next(replay)
    replay.close()
    assert [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")] == [i for i, _, _ in rows]
    slow.detach(db.engine)


def test_open_streams_hold_no_database_connection(served_app: LiveCentre) -> None:
    pool = db.engine.pool
    capacity = pool.size() + getattr(pool, "_max_overflow", 10)  # SQLite's file pool has no overflow
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    streams = []
    try:
        for _ in range(capacity + 5):
            stream = _events(served_app.url, headers)
            _position(stream)
            streams.append(stream)
        started = time.monotonic()
        answer = requests.get(served_app.url + "/api/v1/units", headers=headers, timeout=10)
        assert answer.status_code == 200 and time.monotonic() - started < 5
        number = _incident(served_app, token, 1)
        for stream in streams:  # and every one of them hears the change
            assert next(b for b in stream if b.kind == "incident").data["id"] == number
    finally:
        for stream in streams:
            stream.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_on_postgresql_other_processes_changes_arrive_by_notify_even_across_a_lost_listen(
    app: Flask, served_app: LiveCentre, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no waking up by the clock: only NOTIFY can do it
    monkeypatch.setattr(app.extensions["warroom.bus"], "_idle_s", 120.0)
    _, headers = f.user(Role.DISPATCHER)
    stream = _events(served_app.url, headers)
    _position(stream)
    try:
        for n in range(3):
            with db.engine.begin() as conn:
                written = _insert_elsewhere(conn, "call", {"id": 9000 + n})
            started = time.monotonic()
            block = next(b for b in stream if b.kind == "call")
            assert block.id == written and time.monotonic() - started < 5
        with db.engine.begin() as conn:  # the follower's LISTEN connection dies …
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = 'warroom-live-events' AND datname = current_database()"
                )
            ).all()
        assert killed, "a LISTEN connection was open"
        with db.engine.begin() as conn:  # … and a change is committed before it is back
            written = _insert_elsewhere(conn, "call", {"id": 9100})
        block = next(b for b in stream if b.kind == "call")
        assert block.id == written  # made up from the table
    finally:
        stream.close()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_change_that_commits_after_a_later_one_still_reaches_every_stream(served_app: LiveCentre) -> None:
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    stream = _events(served_app.url, headers)
    _position(stream)
    slow = db.engine.connect()
    try:
        late = _insert_elsewhere(slow, "call", {"id": 7777})  # id taken, not yet committed
        number = _incident(served_app, token, 1)  # a later id, committed first
        block = next(b for b in stream if b.kind == "incident")
        assert block.data["id"] == number and block.id is not None and block.id > late
        slow.commit()
        committed_at = time.monotonic()
        block = next(b for b in stream if b.kind == "call")
        assert block.id == late and time.monotonic() - committed_at < 5
    finally:
        slow.close()
        stream.close()


def test_a_resume_replays_a_change_that_committed_late_just_before_the_position(served_app: LiveCentre) -> None:
    """The client saw a later id before an earlier one committed: the resume sends it (the last
    seconds before the position are replayed too; the console drops what it already had)."""
    _, headers = f.user(Role.DISPATCHER)
    token = headers["Authorization"].split()[1]
    _incident(served_app, token, 1)
    rows = _rows_after(0)
    stream = _events(served_app.url, headers, last_event_id=rows[-1][0])
    again = next((b for b in stream if b.kind == "incident"), None)
    stream.close()
    assert again is not None and again.id == rows[-1][0]  # recent enough to be sent again


def test_streams_are_cheap_to_fan_out_to_crews_by_unit() -> None:
    """A change is queued only for those who may hear it: 400 crews, one unit's change, one queue."""
    fan = EventBus()
    consoles = [fan.subscribe(Audience()) for _ in range(3)]
    crews = [fan.subscribe(Audience(crew=True, unit_id=n)) for n in range(400)]
    fan.publish(Change(1, "unit", {"id": 42, "status": "assigned"}))
    fan.publish(Change(2, "assignment", {"id": 5, "unit_id": 41}))
    fan.publish(Change(3, "incident", {"id": 9}))
    assert [c.queue.qsize() for c in consoles] == [3, 3, 3]
    assert {n: c.queue.qsize() for n, c in enumerate(crews) if c.queue.qsize()} == {41: 1, 42: 1}
    for listener in [*consoles, *crews]:
        fan.unsubscribe(listener)
    assert fan.listening() == 0


def test_the_stream_stops_with_the_centre(app: Flask) -> None:
    own = EventBus()
    own.attach(db.engine)
    stream = own.stream(Audience(), heartbeat_s=30)
    next(stream)
    ended = threading.Event()

    def drain() -> None:
        for _ in stream:
            pass
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    own.detach(db.engine)
    assert ended.wait(5)


def test_a_read_from_a_database_the_process_has_left_hands_on_nothing_and_hides_nothing(tmp_path: Path) -> None:
    """The app's database is replaced (a new app in the same process) while the follower is
    reading the old one: what it read there reaches no stream, and an id it read there does not
    hide the change of the same id in the new database (ids restart: both start at 1)."""
    old, new = (sa.create_engine(f"sqlite:///{tmp_path / name}") for name in ("old.sqlite", "new.sqlite"))
    for engine in (old, new):
        LiveEvent.__table__.create(engine)
    own = EventBus()
    console = own.subscribe(Audience())  # before any database: no follower thread, the test reads
    own.attach(old)
    with old.begin() as conn:
        own._read(conn, old)  # the follower's position in the old database
        _insert_elsewhere(conn, "incident", {"id": 1, "where": "old"})
    sa.event.listen(old, "after_cursor_execute", lambda *_: own.attach(new), once=True)
    with old.connect() as conn:
        own._read(conn, old)  # the app is replaced while this query runs
    assert console.queue.empty()
    own.publish(Change(1, "incident", {"id": 1, "where": "new"}))
    assert console.queue.get_nowait().data == {"id": 1, "where": "new"}
    own.unsubscribe(console)
    for engine in (old, new):
        engine.dispose()
