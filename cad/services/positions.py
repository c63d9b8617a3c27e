"""Use case: store a unit's GPS fixes, move it on the map, and let the geofence set its status;
keep what a device said without a position (`record_no_fix`), which moves nobody.

The hot path is a handful of Core statements per request (read the unit's row, insert the
fixes skipping duplicates, move the unit only forward in time, commit once); on PostgreSQL
a single fix goes with the others of the same moment in one statement (`fix_writer`), so a
centre keeps up with every vehicle reporting each second. Every device token is read in one
query per short interval in this process (`DeviceDirectory`); each device has its own flood
limit, counted for the whole centre (`FloodGuard`) without a round trip per request or per device.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from limits import RateLimitItem
from limits.errors import StorageError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, scoped_session

from cad.config import Settings
from cad.domain.errors import Conflict, Unauthorized
from cad.domain.tokens import hash_token
from cad.events import Change, publish_after_commit, publish_committed
from cad.models import Assignment, DeviceReport, Incident, Position, Station, Unit
from cad.rate_limits import SharedLimits, per_seconds
from cad.services.dispatching import set_unit_status
from cad.services.fix_writer import fix_writer
from dispatch.geofence import Fence, TrackPoint, arrived_at
from dispatch.positions import Arrival, Fix, NoFix, PositionLimits, sort_arrivals
from dispatch.units import IllegalUnitTransition, UnitStatus

log = logging.getLogger(__name__)

_POSITIONS = Position.__table__
_UNITS = Unit.__table__
_REPORTS = DeviceReport.__table__
#: How far back the geofence looks for the start of a run inside the fence.
TRACK_LIMIT = 500
_BACK_HOME_FROM = (UnitStatus.ON_SCENE, UnitStatus.AT_HOSPITAL)
#: The flood limit's name in the shared storage's keys.
GPS_LIMIT = "gps"
#: INSERT … ON CONFLICT (unit_id, fix_at) DO NOTHING RETURNING fix_at on SQLite, built once.
_INSERT_FIXES = (
    sqlite.insert(_POSITIONS)
    .on_conflict_do_nothing(index_elements=["unit_id", "fix_at"])
    .returning(_POSITIONS.c.fix_at)
)
_FIX_COLUMNS = ("lat", "lon", "fix_at", "accuracy_m", "speed_mps", "bearing_deg", "battery_pct")
#: The same on PostgreSQL for a batch: one statement text whatever the number of fixes (the driver
#: parses and the server plans it once per connection), each column an array.
_INSERT_FIX_ARRAYS = sa.text("""
INSERT INTO positions (unit_id, lat, lon, fix_at, received_at, accuracy_m, speed_mps, bearing_deg, battery_pct, source)
SELECT :unit_id, t.lat, t.lon, t.fix_at, :received_at, t.accuracy_m, t.speed_mps, t.bearing_deg, t.battery_pct, 'gps'
FROM unnest(
    CAST(:lat AS double precision[]), CAST(:lon AS double precision[]), CAST(:fix_at AS timestamptz[]),
    CAST(:accuracy_m AS double precision[]), CAST(:speed_mps AS double precision[]),
    CAST(:bearing_deg AS double precision[]), CAST(:battery_pct AS double precision[])
) AS t(lat, lon, fix_at, accuracy_m, speed_mps, bearing_deg, battery_pct)
ON CONFLICT (unit_id, fix_at) DO NOTHING
RETURNING fix_at
""")
#: INSERT … ON CONFLICT (unit_id, reported_at) DO NOTHING RETURNING reported_at: a resent report is kept once.
_INSERT_REPORTS: dict[str, Any] = {
    name: dialect.insert(_REPORTS)
    .on_conflict_do_nothing(index_elements=["unit_id", "reported_at"])
    .returning(_REPORTS.c.reported_at)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


@dataclass(frozen=True)
class GpsRules:
    """What the centre believes of a fix and when the GPS may move a unit's status."""

    limits: PositionLimits = field(default_factory=PositionLimits)
    geofence_m: float = 80.0
    dwell_s: float = 20.0
    auto_available: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> GpsRules:
        return cls(
            limits=PositionLimits(max_future_s=settings.gps_max_future_s, max_age_s=settings.gps_max_age_s),
            geofence_m=settings.gps_geofence_m,
            dwell_s=settings.gps_dwell_s,
            auto_available=settings.gps_auto_available,
        )


@dataclass(frozen=True)
class CurrentPosition:
    lat: float
    lon: float
    at: datetime | None
    accuracy_m: float | None


@dataclass(frozen=True)
class Recorded:
    """What became of a request's fixes. `accepted` moved the track forward; `out_of_order`
    were older than a fix already known (kept as history); `duplicates` were known already."""

    accepted: int
    duplicates: int
    out_of_order: int
    position: CurrentPosition | None
    status: UnitStatus | None = None
    status_set: bool = False


class DeviceDirectory:
    """Device token → unit id for every unit of the centre, read in one query and read again
    after `ttl_s`, so a report costs no lookup however many devices a worker serves.

    A token issued since the last read is looked up alone (and then known); a replaced or
    withdrawn token keeps working in this process until the next read, at most `ttl_s` later
    (`WARROOM_GPS_TOKEN_TTL_S`), or until `forget`. Unknown tokens are looked up each time,
    never remembered."""

    def __init__(self, ttl_s: float, now_s: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.now_s = now_s
        self._lock = threading.Lock()
        self._units: dict[str, int] = {}
        self._read_until_s = -math.inf
        self._reading = False

    def unit_id(self, session: Session, token: str | None, field: str = "id") -> int:
        if not token:
            raise Unauthorized("a device token is required", field)
        token_hash = hash_token(token)
        with self._lock:
            read_all = not self._reading and self.now_s() >= self._read_until_s
            self._reading = self._reading or read_all
        if read_all:  # one request reads; the others meanwhile go by what was read before
            try:
                self._read_all(session)
            finally:
                with self._lock:
                    self._reading = False
        unit_id = self._units.get(token_hash)
        if unit_id is not None:
            return unit_id
        lookup = sa.select(_UNITS.c.id).where(_UNITS.c.device_token_hash == token_hash)
        with _own_connection(session) as connection:
            unit_id = connection.scalar(lookup)
        if unit_id is None:
            raise Unauthorized("the device token is not valid", field)
        with self._lock:
            self._units[token_hash] = int(unit_id)
        return int(unit_id)

    def forget(self, token: str) -> None:
        with self._lock:
            self._units.pop(hash_token(token), None)

    def _read_all(self, session: Session) -> None:
        started_s = self.now_s()
        every = sa.select(_UNITS.c.device_token_hash, _UNITS.c.id).where(_UNITS.c.device_token_hash.is_not(None))
        with _own_connection(session) as connection:
            units = {token_hash: int(unit_id) for token_hash, unit_id in connection.execute(every)}
        with self._lock:
            self._units = units
            self._read_until_s = started_s + self.ttl_s


def _own_connection(session: Session) -> Connection:
    """A connection outside the request's transaction, back in the pool as soon as it is closed."""
    return session.get_bind().connect().execution_options(isolation_level="AUTOCOMMIT")


@dataclass
class _Tally:
    """What this process knows of one unit's flood window."""

    known: int = 0  # the centre's count at the last sync, ours included
    sending: int = 0  # being added to the shared count right now
    pending: int = 0  # let through here since, not yet added to the shared count
    window_ends_s: float = 0.0  # when the shared window of that count ends
    synced_s: float = -math.inf

    def admit(self, fixes: int, allowed: int) -> bool:
        if self.known + self.sending + self.pending + min(fixes, allowed) > allowed:
            return False
        self.pending += fixes
        return True


class FloodGuard:
    """A device that floods waits, the others are not slowed; counted once for the whole centre.

    Each unit may send `burst` fixes per `burst / rate` seconds (a fixed window, so `rate` a
    second on average) in the shared storage of `cad.rate_limits`, whatever worker or node its
    requests reach. A request costs no round trip for the limit: each process counts here and
    adds its counts to the shared ones in one statement at most every FLUSH_S, on whatever request
    comes then; with the database as the storage that flush also reads the centre's count of every
    unit, so a unit new to this process is judged by that count, at most CENTRE_FRESH_S old (the
    next flush reads them again meanwhile: requests that come while it waits on the database need
    no round trip of their own). (In Redis, which cannot list the counts cheaply, a unit new here
    in the current window is asked of at once.) Before refusing a unit it has not asked of lately
    it asks again, so N processes may let a flood through for up to CENTRE_FRESH_S before all
    refuse it. A request larger than the burst passes
    when the window is empty (a phone emptying its backlog after a dead zone is served once, then
    waits)."""

    #: How often this process adds its counts to the shared ones.
    FLUSH_S = 1.0
    #: How long the centre's counts read by a flush judge units new to this process: past FLUSH_S,
    #: for the next flush, due by then, to read them again.
    CENTRE_FRESH_S = 2 * FLUSH_S

    def __init__(self, limits: SharedLimits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._tallies: dict[tuple[int, RateLimitItem], _Tally] = {}
        self._flushed_s = -math.inf
        #: the centre's counts (shared key → count, window's end) as the last flush read them, and when
        self._centre: dict[str, tuple[int, float]] | None = None
        self._centre_s = -math.inf

    def wait_s(self, unit_id: int, fixes: int, rate_per_s: float, burst: float) -> float:
        """0 when the unit may send `fixes` now (counted), else the seconds until it may."""
        if rate_per_s <= 0:
            return 0.0
        item = per_seconds(int(burst), burst / rate_per_s)
        now_s = self.limits.now_s()
        if now_s - self._flushed_s >= self.FLUSH_S:
            self._flush(now_s)
        with self._lock:
            tally = self._tallies.get((unit_id, item))
            if tally is None or now_s >= tally.window_ends_s:  # new here, or a new window
                tally = self._from_centre(unit_id, item, now_s)
            if tally is not None:
                if tally.admit(fixes, item.amount):
                    return 0.0
                if now_s - tally.synced_s < self.FLUSH_S:
                    return tally.window_ends_s - now_s
        tally = self._sync(unit_id, item)  # new here and no fresh count of the centre's, or a refusal to confirm
        with self._lock:
            if tally.admit(fixes, item.amount):
                return 0.0
            return max(tally.window_ends_s - now_s, 0.001)

    def _from_centre(self, unit_id: int, item: RateLimitItem, now_s: float) -> _Tally | None:
        """A new tally from the centre's counts read by the last flush, if they are fresh (under the lock)."""
        if self._centre is None or now_s - self._centre_s >= self.CENTRE_FRESH_S:
            return None
        key = item.key_for(GPS_LIMIT, str(unit_id))
        # not counted anywhere yet: the shared window starts when this process adds its count
        known, ends_s = self._centre.get(key, (0, now_s + item.get_expiry()))
        if now_s >= ends_s:
            known, ends_s = 0, now_s + item.get_expiry()
        tally = self._tallies[(unit_id, item)] = _Tally(known=known, window_ends_s=ends_s, synced_s=self._centre_s)
        return tally

    def _sync(self, unit_id: int, item: RateLimitItem) -> _Tally:
        """Add this unit's counts to the shared one now and learn the centre's."""
        with self._lock:
            tally = self._tallies.setdefault((unit_id, item), _Tally())
        self._send({item.key_for(GPS_LIMIT, str(unit_id)): (unit_id, item)}, item.get_expiry())
        return tally

    def _flush(self, now_s: float) -> None:
        """Add every unit's counts of this process to the shared ones; forget units quiet for a window."""
        if not self._flush_lock.acquire(blocking=False):
            return  # another request of this process is flushing
        try:
            self._flushed_s = now_s
            batches: dict[int, dict[str, tuple[int, RateLimitItem]]] = {}
            with self._lock:
                for (unit_id, item), tally in list(self._tallies.items()):
                    if now_s >= tally.window_ends_s:  # what was counted here was for a window now over
                        tally.pending = 0
                        if not tally.sending:
                            del self._tallies[(unit_id, item)]
                    elif tally.pending:
                        key = item.key_for(GPS_LIMIT, str(unit_id))
                        batches.setdefault(item.get_expiry(), {})[key] = (unit_id, item)
            for expiry, batch in batches.items():
                self._send(batch, expiry)
            try:
                centre = self.limits.counts(GPS_LIMIT)
            except StorageError:
                log.exception("GPS flood limit: the shared storage is unavailable")
                centre = None
            read_s = self.limits.now_s()
            with self._lock:
                self._centre, self._centre_s = centre, read_s
        finally:
            self._flush_lock.release()

    def _send(self, batch: dict[str, tuple[int, RateLimitItem]], expiry: int) -> None:
        """Add the pending counts of these units (shared key → unit, limit) to the shared ones."""
        now_s = self.limits.now_s()
        with self._lock:
            tallies = {key: self._tallies.setdefault(where, _Tally()) for key, where in batch.items()}
            amounts = {}
            for key, tally in tallies.items():
                if now_s >= tally.window_ends_s:  # counted for a window now over: not for the next one
                    tally.pending = 0
                amounts[key], tally.sending, tally.pending = tally.pending, tally.sending + tally.pending, 0
        try:
            counted = self.limits.incr_many(amounts, expiry)
        except StorageError:  # the limit must not stop a vehicle's position: count here alone meanwhile
            log.exception("GPS flood limit: the shared storage is unavailable")
            counted = {}
        now_s = self.limits.now_s()
        with self._lock:
            for key, tally in tallies.items():
                tally.sending -= amounts[key]
                if key in counted:
                    tally.known, tally.window_ends_s = counted[key]
                    tally.synced_s = now_s
                else:
                    tally.pending += amounts[key]
                    tally.window_ends_s = max(tally.window_ends_s, now_s + self.FLUSH_S)


def record_fixes(
    session: Session | scoped_session[Session],
    unit_id: int,
    fixes: Sequence[Fix],
    *,
    received_at: datetime,
    rules: GpsRules,
    engine: Engine | None = None,
) -> Recorded:
    """Store checked fixes of one unit; move the unit to the newest if it is newer than what
    it had (a conditional UPDATE, so concurrent requests never move it backwards); commit once;
    then let the geofence decide arrival on scene or back at the station.

    With a `scoped_session` and its `engine`, a single fix on PostgreSQL opens no session unless
    its geofence has something to judge (the usual fix: a unit driving about)."""
    bind = engine if engine is not None else session.get_bind()
    if len(fixes) == 1 and bind.dialect.name == "postgresql":
        return _record_one_pg(session, bind, unit_id, fixes[0], received_at, rules)
    if isinstance(session, scoped_session):
        session = session()
    connection = session.connection()  # Core on the session's connection: no ORM work per fix
    # A single fix (the usual report) needs no look at the unit first: the conditional UPDATE
    # tells whether it is the newest. A batch reads the unit to tell history from news.
    read_first = len(fixes) > 1
    unit = _read_unit(connection, unit_id) if read_first else None
    arrivals = sort_arrivals([fix.fix_at for fix in fixes], unit.position_at if unit else None)
    fresh = [(fix, arrival) for fix, arrival in zip(fixes, arrivals, strict=True) if arrival is not Arrival.REPEATED]
    try:
        stored = _insert(connection, unit_id, [fix for fix, _ in fresh], received_at)
    except IntegrityError:  # the unit behind a remembered token is gone
        session.rollback()
        raise Unauthorized("the device token belongs to no unit", "token") from None
    newest = max((fix for fix, _ in fresh if fix.fix_at in stored), key=lambda fix: fix.fix_at, default=None)
    moved = _move_unit(connection, unit_id, newest) if newest is not None else None
    if not read_first:  # one fix: news if it moved the unit, else history
        arrivals = [Arrival.NEW if moved is not None else Arrival.OUT_OF_ORDER for _ in fixes]
    if moved is not None and newest is not None:
        status = UnitStatus(moved.status)
        here = CurrentPosition(newest.lat, newest.lon, newest.fix_at, newest.accuracy_m)
        publish_after_commit(session, "unit", {"id": unit_id, "position": _position_data(here)})
        current: CurrentPosition | None = here
    else:
        unit = unit or _read_unit(connection, unit_id)
        if unit is None:
            session.rollback()
            raise Unauthorized("the device token belongs to no unit", "token")
        status = UnitStatus(unit.status)
        current = None
        if unit.lat is not None and unit.lon is not None:
            current = CurrentPosition(unit.lat, unit.lon, unit.position_at, unit.position_accuracy_m)
    session.commit()

    kept = [arrival for fix, arrival in zip(fixes, arrivals, strict=True) if fix.fix_at in stored]
    accepted, out_of_order = kept.count(Arrival.NEW), kept.count(Arrival.OUT_OF_ORDER)
    recorded = Recorded(accepted, len(fixes) - accepted - out_of_order, out_of_order, current, status)
    if moved is not None:
        changed = _apply_geofence(session, unit_id, status, moved.status_changed_at, moved.station_id, rules)
        if changed is not None:
            recorded = replace(recorded, status=changed, status_set=True)
    return recorded


def record_no_fix(
    session: Session, unit_id: int, reports: Sequence[tuple[NoFix, dict[str, Any]]], *, received_at: datetime
) -> int:
    """Keep a device's messages that carry no usable position, each with what it said; commit once.
    The unit keeps its last position and its status: nothing moves it, no geofence runs. Returns
    how many were stored (a report already kept for the same instant is not stored twice)."""
    if not reports:
        return 0
    rows = [
        {
            "unit_id": unit_id,
            "reported_at": report.reported_at,
            "received_at": received_at,
            "cause": report.cause,
            "battery_pct": report.battery_pct,
            "charging": report.charging,
            "said": said,
        }
        for report, said in reports
    ]
    connection = session.connection()
    statement = _INSERT_REPORTS[connection.dialect.name]
    stored = 0
    try:
        for row in rows:  # one at a time: a batch repeating an instant must not trip over itself
            stored += len(connection.execute(statement, row).scalars().all())
    except IntegrityError:  # the unit behind a remembered token is gone
        session.rollback()
        raise Unauthorized("the device token belongs to no unit", "token") from None
    session.commit()
    return stored


def _record_one_pg(
    session: Session | scoped_session[Session],
    engine: Engine,
    unit_id: int,
    fix: Fix,
    received_at: datetime,
    rules: GpsRules,
) -> Recorded:
    """The usual report, one fix, on PostgreSQL: written together with the fixes other requests
    of this process are sending at the same moment (`fix_writer`), committed before we answer."""
    here = CurrentPosition(fix.lat, fix.lon, fix.fix_at, fix.accuracy_m)
    event = {"id": unit_id, "position": _position_data(here)}
    event_json = json.dumps(event, default=str)
    # no pooled connection held while it waits: waiters must not drain the pool
    held = _opened(session)
    if held is not None and held.in_transaction():
        held.commit()
    row = fix_writer(engine).write(engine, {**_row(unit_id, fix, received_at), "event": event_json})
    if not row.known:
        raise Unauthorized("the device token belongs to no unit", "token")
    moved = row.moved_status is not None
    if moved:  # committed already: tell this process's consoles now
        publish_committed(engine, Change(row.event_id, "unit", json.loads(event_json)))
        recorded = Recorded(1, 0, 0, here, UnitStatus(row.moved_status))
        changed = _apply_geofence(
            session, unit_id, UnitStatus(row.moved_status), row.status_changed_at, row.station_id, rules
        )
        return replace(recorded, status=changed, status_set=True) if changed is not None else recorded
    current = None
    if row.lat is not None and row.lon is not None:
        current = CurrentPosition(row.lat, row.lon, row.position_at, row.position_accuracy_m)
    stored = bool(row.stored)
    return Recorded(0, 0 if stored else 1, 1 if stored else 0, current, UnitStatus(row.status))


def _row(unit_id: int, fix: Fix, received_at: datetime) -> dict[str, Any]:
    """A fix as the `positions` columns take it."""
    return {
        "unit_id": unit_id,
        "lat": fix.lat,
        "lon": fix.lon,
        "fix_at": fix.fix_at,
        "received_at": received_at,
        "accuracy_m": fix.accuracy_m,
        "speed_mps": fix.speed_mps,
        "bearing_deg": fix.bearing_deg,
        "battery_pct": fix.battery_pct,
    }


def _read_unit(connection: Connection, unit_id: int) -> Any:
    return connection.execute(
        sa.select(
            _UNITS.c.lat,
            _UNITS.c.lon,
            _UNITS.c.position_at,
            _UNITS.c.position_accuracy_m,
            _UNITS.c.status,
        ).where(_UNITS.c.id == unit_id)
    ).one_or_none()


def _insert(connection: Connection, unit_id: int, fixes: Sequence[Fix], received_at: datetime) -> set[datetime]:
    """Insert, skipping fixes the unit already has (unique on unit and fix time); the fix times stored."""
    if not fixes:
        return set()
    if connection.dialect.name == "postgresql":  # a column of values each, not a parameter per value and row
        columns = {name: [getattr(fix, name) for fix in fixes] for name in _FIX_COLUMNS}
        given = {"unit_id": unit_id, "received_at": received_at, **columns}
        return set(connection.execute(_INSERT_FIX_ARRAYS, given).scalars())
    rows = [{**_row(unit_id, fix, received_at), "source": "gps"} for fix in fixes]
    result = connection.execute(_INSERT_FIXES, rows) if len(rows) > 1 else connection.execute(_INSERT_FIXES, rows[0])
    return set(result.scalars())


def _move_unit(connection: Connection, unit_id: int, fix: Fix) -> Any:
    """Make `fix` the unit's position if it is newer than the one it has; the unit's status then."""
    return connection.execute(
        sa.update(_UNITS)
        .where(
            _UNITS.c.id == unit_id,
            sa.or_(_UNITS.c.position_at.is_(None), _UNITS.c.position_at < fix.fix_at),
        )
        .values(lat=fix.lat, lon=fix.lon, position_at=fix.fix_at, position_accuracy_m=fix.accuracy_m)
        .returning(_UNITS.c.status, _UNITS.c.status_changed_at, _UNITS.c.station_id)
    ).one_or_none()


def _position_data(position: CurrentPosition) -> dict[str, Any]:
    return {
        "lat": position.lat,
        "lon": position.lon,
        "at": position.at.isoformat().replace("+00:00", "Z") if position.at else None,
        "accuracy_m": position.accuracy_m,
    }


def _opened(session: Session | scoped_session[Session]) -> Session | None:
    """The session; of a scoped one, the request's own if it opened one (None: it did not, and
    asking does not open one)."""
    if not isinstance(session, scoped_session):
        return session
    return session() if session.registry.has() else None


def _apply_geofence(
    sessions: Session | scoped_session[Session],
    unit_id: int,
    status: UnitStatus,
    since: datetime | None,
    station_id: int | None,
    rules: GpsRules,
) -> UnitStatus | None:
    """On scene when an en-route unit has stayed at its incident; available when a unit back
    from an incident has stayed at its station (if the centre allows it). None: no change.
    A scoped session is opened only for a unit in one of those two statuses."""
    if status is not UnitStatus.EN_ROUTE and not (status in _BACK_HOME_FROM and rules.auto_available):
        return None
    session = sessions() if isinstance(sessions, scoped_session) else sessions
    if status is UnitStatus.EN_ROUTE:
        place = session.execute(
            sa.select(Incident.lat, Incident.lon)
            .join(Assignment, Assignment.incident_id == Incident.id)
            .where(Assignment.unit_id == unit_id, Assignment.active)
        ).first()
        target, entering = UnitStatus.ON_SCENE, False
    elif status in _BACK_HOME_FROM and rules.auto_available and station_id is not None:
        place = session.execute(sa.select(Station.lat, Station.lon).where(Station.id == station_id)).first()
        target, entering = UnitStatus.AVAILABLE, True
    else:
        return None
    if place is None or place.lat is None or place.lon is None:
        session.rollback()
        return None
    fence = Fence(place.lat, place.lon, rules.geofence_m, rules.dwell_s)
    arrival = arrived_at(_track(session, unit_id, since), fence, since, require_entry=entering)
    if arrival is None:
        session.rollback()
        return None
    try:
        set_unit_status(session, unit_id, target, None, actor="gps", source="gps", expected=status, at=arrival)
    except (Conflict, IllegalUnitTransition) as error:  # a crew or dispatcher moved it meanwhile
        session.rollback()
        log.info("geofence left unit %s as it is: %s", unit_id, error)
        return None
    log.info("geofence: unit %s %s since %s", unit_id, target, arrival.isoformat())
    return target


def _track(session: Session, unit_id: int, since: datetime | None) -> list[TrackPoint]:
    query = sa.select(_POSITIONS.c.fix_at, _POSITIONS.c.lat, _POSITIONS.c.lon, _POSITIONS.c.accuracy_m).where(
        _POSITIONS.c.unit_id == unit_id
    )
    if since is not None:
        query = query.where(_POSITIONS.c.fix_at >= since)
    rows = session.execute(query.order_by(_POSITIONS.c.fix_at.desc()).limit(TRACK_LIMIT))
    return [TrackPoint(row.fix_at, row.lat, row.lon, row.accuracy_m) for row in rows]
