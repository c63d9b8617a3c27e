"""Use case: give the city simulator (`warroom simulate`) its keys to a demo or test centre.

Every unit's GPS device gets a new token (the simulator drives the vehicles), each unit gets a
crew user `sim-<callsign>` (the simulated crews press their buttons as themselves), and a
dispatcher `simulator` takes what nobody at the consoles takes. For demo and test centres only.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cad import clock
from cad.auth import hash_token, new_token
from cad.models import Role, Unit, User


@dataclass(frozen=True)
class SimulatorKeys:
    api_token: str
    devices: dict[int, str]
    crews: dict[int, str]


def issue_simulator_keys(session: Session) -> SimulatorKeys:
    devices: dict[int, str] = {}
    crews: dict[int, str] = {}
    for unit in session.scalars(sa.select(Unit).order_by(Unit.id)):
        devices[unit.id] = new_token("dev")
        unit.device_token_hash = hash_token(devices[unit.id])
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
    token = new_token("wr")
    user.api_token_hash = hash_token(token)
    return token
