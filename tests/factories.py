"""Small factories for test data; each returns what a test needs, added and flushed (ids given), not
committed (STYLE.md). Each test has a database of its own (tests/conftest.py), so nothing needs
rolling back; what matters is who else must see the rows:

- the app asked through Flask's test client: `live.CommittingClient` commits the test's session
  before each request, as a client elsewhere would find the rows committed (the app's own audit
  rolls back whatever a refused request left open, factory rows included);
- code that reads through connections of its own (a centre served from another thread or process,
  as in every end-to-end test and `served_app`; the GPS hot path): the `committing_factories`
  fixture (tests/conftest.py) switches `persist` to commit, every factory row committed as made;
- anything else on another connection (a test's own threads, a worker app's context), and code
  called directly that rolls back the session it is given (a refused command): the test commits
  explicitly, and says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from werkzeug.security import generate_password_hash

from cad import clock
from cad.db import db
from cad.domain.tokens import new_token
from cad.models import Agency, Role, Station, Unit, User
from cad.services.tokens import give_api_token, give_device_token
from dispatch.units import UnitStatus, UnitType


def flush() -> None:
    db.session.flush()


def commit() -> None:
    db.session.commit()


#: How a factory makes its rows exist for the test: flushed into the test's transaction (the
#: default), or committed (the end-to-end tests, whose centre reads through its own connections).
persist = flush

#: The password of a `person` (tests/console_session.py logs in with it).
PASSWORD = "correct horse 112"


def user(
    role: Role | str, name: str | None = None, unit: Unit | None = None, password: str | None = None
) -> tuple[User, dict[str, str]]:
    """A user of `role` and the headers that authenticate them; with `password`, they can log in to a console."""
    role = Role(role)
    row = User(
        username=name or f"{role}-{new_token('u')[-6:]}",
        display_name=name or str(role),
        role=role,
        password_hash=generate_password_hash(password) if password else None,
        unit_id=unit.id if unit else None,
        created_at=clock.now(),
    )
    token = give_api_token(row)
    db.session.add(row)
    persist()
    return row, {"Authorization": f"Bearer {token}"}


def api_token(role: Role | str, name: str | None = None, unit: Unit | None = None) -> str:
    """A user of `role` and the bearer token alone, for a client that sets its own headers."""
    _, headers = user(role, name, unit)
    return headers["Authorization"].removeprefix("Bearer ")


def person(role: Role | str, name: str, unit_id: int | None = None) -> User:
    """A user who logs in to the consoles with `PASSWORD`."""
    row, _ = user(role, name, password=PASSWORD)
    row.unit_id = unit_id
    persist()
    return row


def agency(code: str = "damkar") -> Agency:
    row = db.session.query(Agency).filter_by(code=code).one_or_none()
    if row is None:
        row = Agency(code=code, name=code.title())
        db.session.add(row)
        persist()
    return row


def station(
    name: str = "Pos Pusat", lat: float = -1.2700, lon: float = 116.8350, agency_code: str = "damkar"
) -> Station:
    row = Station(agency=agency(agency_code), name=name, lat=lat, lon=lon)
    db.session.add(row)
    persist()
    return row


def unit(
    callsign: str,
    unit_type: UnitType | str = UnitType.FIRE_ENGINE,
    *,
    lat: float | None = -1.2705,
    lon: float | None = 116.8360,
    fix_age_s: float | None = 10.0,
    status: UnitStatus = UnitStatus.AVAILABLE,
    home: Station | None = None,
    agency_code: str = "damkar",
) -> Unit:
    now: datetime = clock.now()
    row = Unit(
        callsign=callsign,
        type=UnitType(unit_type),
        agency=agency(agency_code),
        station=home,
        status=status,
        capabilities=[],
        lat=lat,
        lon=lon,
        position_at=None if fix_age_s is None else now - timedelta(seconds=fix_age_s),
    )
    db.session.add(row)
    persist()
    return row


def device_token(row: Unit) -> str:
    token = give_device_token(row)
    persist()
    return token


INCIDENT = {
    "type": "kebakaran",
    "priority": 1,
    "location": {"lat": -1.2650, "lon": 116.8400, "accuracy_m": 15},
    "address": "Jl. Jenderal Sudirman No. 1",
    "district": "Klandasan Ilir",
    "description": "Rumah terbakar, asap tebal",
}
