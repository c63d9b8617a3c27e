"""Where units have been, what their devices said, the cameras that watch the roads, and what they saw."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cad.db import UTCDateTime, db
from cad.models._types import enum_column
from dispatch.positions import NoFixCause


class Position(db.Model):  # type: ignore[name-defined]
    """A GPS fix of a unit, kept as history (also fixes that arrived late and out of order)."""

    __tablename__ = "positions"
    __table_args__ = (sa.UniqueConstraint("unit_id", "fix_at", name="one_fix_per_instant"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    lat: Mapped[float] = mapped_column(sa.Float)
    lon: Mapped[float] = mapped_column(sa.Float)
    fix_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    speed_mps: Mapped[float | None] = mapped_column(sa.Float)
    bearing_deg: Mapped[float | None] = mapped_column(sa.Float)
    battery_pct: Mapped[float | None] = mapped_column(sa.Float)
    source: Mapped[str] = mapped_column(sa.String(16), default="gps")


class DeviceReport(db.Model):  # type: ignore[name-defined]
    """A message of a unit's device without a usable position (cell towers or Wi-Fi only, a
    heartbeat, 0,0, a fix the device marked invalid): kept with what it said; it moves nobody."""

    __tablename__ = "device_reports"
    __table_args__ = (sa.UniqueConstraint("unit_id", "reported_at", name="one_report_per_instant"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the device's time, else when received
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[NoFixCause] = mapped_column(enum_column(NoFixCause, "no_fix_cause"))
    battery_pct: Mapped[float | None] = mapped_column(sa.Float)
    charging: Mapped[bool | None] = mapped_column(sa.Boolean)
    said: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # the parameters or JSON as sent, less the token


class Camera(db.Model):  # type: ignore[name-defined]
    __tablename__ = "cameras"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    lat: Mapped[float] = mapped_column(sa.Float)
    lon: Mapped[float] = mapped_column(sa.Float)
    heading_deg: Mapped[float | None] = mapped_column(sa.Float)
    radius_m: Mapped[float] = mapped_column(sa.Float, default=80.0)
    district: Mapped[str | None] = mapped_column(sa.String(120))


class CongestionReading(db.Model):  # type: ignore[name-defined]
    __tablename__ = "congestion_readings"
    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(sa.ForeignKey("cameras.id"), index=True)
    level: Mapped[str] = mapped_column(sa.String(8))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    camera: Mapped[Camera] = relationship()
