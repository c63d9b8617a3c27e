"""Agencies, stations, units and the people who use the system."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cad.db import UTCDateTime, db
from cad.domain.roles import Role
from cad.models._types import enum_column
from dispatch.units import UnitStatus, UnitType


class Agency(db.Model):  # type: ignore[name-defined]
    __tablename__ = "agencies"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    phone: Mapped[str | None] = mapped_column(sa.String(32))


class Station(db.Model):  # type: ignore[name-defined]
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    lat: Mapped[float] = mapped_column(sa.Float)
    lon: Mapped[float] = mapped_column(sa.Float)
    address: Mapped[str | None] = mapped_column(sa.String(255))
    agency: Mapped[Agency] = relationship()


class Unit(db.Model):  # type: ignore[name-defined]
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    callsign: Mapped[str] = mapped_column(sa.String(32), unique=True)
    type: Mapped[UnitType] = mapped_column(enum_column(UnitType, "unit_type"))
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agencies.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    status: Mapped[UnitStatus] = mapped_column(enum_column(UnitStatus, "unit_status"), default=UnitStatus.AVAILABLE)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    capabilities: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    crew_size: Mapped[int] = mapped_column(sa.Integer, default=2)
    crew_phone: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    device_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    position_accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    agency: Mapped[Agency] = relationship()
    station: Mapped[Station | None] = relationship()


class User(db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(enum_column(Role, "user_role"))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    api_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    unit: Mapped[Unit | None] = relationship()
