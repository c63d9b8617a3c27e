"""Use cases of the city simulator (`warroom simulate`), for demo centres only.

Every unit's GPS device gets a new token (the simulator drives the vehicles), each unit gets a
crew user `sim-<callsign>` (the simulated crews press their buttons as themselves), and a
dispatcher `simulator` takes what nobody at the consoles takes. A real centre must never get fake
112 calls nor lose its vehicles' tokens: all this runs only on a database `warroom demo seed` made
(its `demo_seeded` mark), and only for the one simulator that holds the lease
(`cad.domain.simulator_lease`).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cad import clock
from cad.domain.simulator_lease import LEASE_S, LeaseHeld, Verdict, verdict
from cad.models import CentreMark, Role, SimulatorLease, Unit, User
from cad.services.tokens import give_api_token, give_device_token

DEMO_MARK = "demo_seeded"
LEASE = "city"


class NotADemoCentre(Exception):
    def __init__(self) -> None:
        super().__init__(
            "this database was not seeded by the demo (`warroom demo seed`): it may be a real centre, and the "
            "simulator would place fake 112 calls and take over every vehicle's GPS token. It runs only on a "
            "demo centre: start one on an empty database (another WARROOM_INSTANCE or DATABASE_URL)"
        )


class SimulatorBusy(Exception):
    def __init__(self, lease: LeaseHeld) -> None:
        self.lease = lease
        super().__init__(
            f"another simulator drives this centre's vehicles: {lease.describe()}; its lease runs to "
            f"{lease.expires_at:%H:%M:%S} UTC and it renews it while it runs. Stop it first (a simulator that "
            f"died is taken over once its lease runs out)"
        )


@dataclass(frozen=True)
class SimulatorKeys:
    api_token: str
    devices: dict[int, str]
    crews: dict[int, str]


def mark_demo_centre(session: Session, what: str) -> None:
    """Part of the demo's seeding transaction: this database is a demo centre."""
    session.merge(CentreMark(name=DEMO_MARK, value=what, at=clock.now()))


def demo_seeded_at(session: Session) -> datetime | None:
    return session.scalar(sa.select(CentreMark.at).where(CentreMark.name == DEMO_MARK))


def new_holder() -> str:
    """This simulator's name in the lease: unique even when a pid is reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def take_simulator_lease(session: Session, holder: str, *, ttl_s: float = LEASE_S) -> LeaseHeld:
    """Take the lease on the units' tokens for `holder` (this process), or raise why not."""
    if demo_seeded_at(session) is None:
        raise NotADemoCentre()
    table = SimulatorLease.__table__
    for _ in range(3):  # another taker may be quicker between our read and our write: look again
        now = _database_now(session)
        current = current_lease(session)
        decided = verdict(current, holder, now, _alive(current))
        if decided is Verdict.REFUSE:
            session.rollback()
            assert current is not None
            raise SimulatorBusy(current)
        mine = LeaseHeld(holder, socket.gethostname(), os.getpid(), now, now + timedelta(seconds=ttl_s))
        values = {"holder": holder, "host": mine.host, "pid": mine.pid, "since": now, "expires_at": mine.expires_at}
        if current is None:
            try:
                session.execute(sa.insert(table).values(name=LEASE, **values))
                session.commit()
                return mine
            except IntegrityError:
                session.rollback()
                continue
        # compare-and-swap on the lease as we saw it: a holder that renewed meanwhile keeps it
        taken = session.execute(
            sa.update(table)
            .where(
                table.c.name == LEASE,
                table.c.holder == current.holder,
                table.c.expires_at == current.expires_at,
            )
            .values(**values)
        ).rowcount
        session.commit()
        if taken:
            return mine
    current = current_lease(session)
    session.rollback()
    assert current is not None
    raise SimulatorBusy(current)


def renew_simulator_lease(session: Session, holder: str, *, ttl_s: float = LEASE_S) -> bool:
    """True while `holder` still holds the lease (now for `ttl_s` more); False once another took it."""
    table = SimulatorLease.__table__
    now = _database_now(session)
    renewed = session.execute(
        sa.update(table)
        .where(table.c.name == LEASE, table.c.holder == holder)
        .values(expires_at=now + timedelta(seconds=ttl_s))
    ).rowcount
    session.commit()
    return bool(renewed)


def release_simulator_lease(session: Session, holder: str) -> None:
    table = SimulatorLease.__table__
    session.execute(sa.delete(table).where(table.c.name == LEASE, table.c.holder == holder))
    session.commit()


def current_lease(session: Session) -> LeaseHeld | None:
    row = session.get(SimulatorLease, LEASE, populate_existing=True)
    if row is None:
        return None
    return LeaseHeld(row.holder, row.host, row.pid, row.since, row.expires_at)


def issue_simulator_keys(session: Session, holder: str | None = None) -> SimulatorKeys:
    """New tokens for every unit's GPS device and the simulated people: on a demo centre only, and
    never while a simulator other than `holder` holds the lease (it drives with the old tokens)."""
    if demo_seeded_at(session) is None:
        raise NotADemoCentre()
    current = current_lease(session)
    if verdict(current, holder or "", _database_now(session), _alive(current)) is Verdict.REFUSE:
        session.rollback()
        assert current is not None
        raise SimulatorBusy(current)
    devices: dict[int, str] = {}
    crews: dict[int, str] = {}
    for unit in session.scalars(sa.select(Unit).order_by(Unit.id)):
        devices[unit.id] = give_device_token(unit)
        crews[unit.id] = _user(
            session, f"sim-{unit.callsign.lower()}", Role.CREW, f"Kru {unit.callsign} (simulasi)", unit.id
        )
    api_token = _user(session, "simulator", Role.DISPATCHER, "Simulasi kota", None)
    session.commit()
    return SimulatorKeys(api_token, devices, crews)


def _user(session: Session, username: str, role: Role, display_name: str, unit_id: int | None) -> str:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=display_name, role=role, unit_id=unit_id, created_at=clock.now())
        session.add(user)
    elif user.role is not role or user.unit_id != unit_id:
        raise ValueError(f"user {username!r} exists with another role or unit; the simulator will not take it over")
    return give_api_token(user)


def _database_now(session: Session) -> datetime:
    """The lease's clock: PostgreSQL's, one for every machine; on SQLite (one machine) this one's."""
    if session.get_bind().dialect.name == "postgresql":
        now: datetime = session.scalar(sa.select(sa.func.now()))
        return now
    return clock.now()


def _alive(lease: LeaseHeld | None) -> bool | None:
    """Whether the lease's holder runs: known only for a process on this machine."""
    if lease is None or lease.host != socket.gethostname() or lease.pid <= 0:
        return None
    try:
        os.kill(lease.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it runs
        return True
    return True
