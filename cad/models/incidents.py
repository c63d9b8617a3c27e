"""Incidents, assignments of units to them, and the append-only timeline."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cad.db import UTCDateTime, db
from cad.domain.incidents import IncidentStatus, IncidentType
from cad.models._types import enum_column


class Incident(db.Model):  # type: ignore[name-defined]
    __tablename__ = "incidents"
    __table_args__ = (sa.CheckConstraint("priority BETWEEN 1 AND 4", name="priority_range"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    type: Mapped[IncidentType] = mapped_column(enum_column(IncidentType, "incident_type"))
    priority: Mapped[int] = mapped_column(sa.SmallInteger)
    status: Mapped[IncidentStatus] = mapped_column(enum_column(IncidentStatus, "incident_status"), index=True)
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    location_accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    location_source: Mapped[str | None] = mapped_column(sa.String(16))
    address: Mapped[str | None] = mapped_column(sa.String(255))
    district: Mapped[str | None] = mapped_column(sa.String(120), index=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    caller_id: Mapped[int | None] = mapped_column(sa.ForeignKey("callers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    disposition: Mapped[str | None] = mapped_column(sa.String(24))  # the outcome, asked for on closing
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    # bumped by every change: writers take the row (close, assign, release, edit serialise on it)
    version: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    caller: Mapped[Any] = relationship("Caller")
    assignments: Mapped[list[Assignment]] = relationship(back_populates="incident", order_by="Assignment.id")


class IncidentSequence(db.Model):  # type: ignore[name-defined]
    """The last incident number handed out per prefix and local day."""

    __tablename__ = "incident_sequences"
    prefix: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    last: Mapped[int] = mapped_column(sa.Integer)


class Assignment(db.Model):  # type: ignore[name-defined]
    """A unit sent to an incident. At most one active assignment per unit (partial unique index)."""

    __tablename__ = "assignments"
    __table_args__ = (
        sa.Index(
            "uq_assignments_active_unit",
            "unit_id",
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("units.id"), index=True)
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    en_route_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    on_scene_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ack_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    crew_code: Mapped[str | None] = mapped_column(sa.String(32), unique=True)  # the crew's link to this job
    route_eta_s: Mapped[float | None] = mapped_column(sa.Float)
    route_signature: Mapped[str | None] = mapped_column(sa.String(64))
    incident: Mapped[Incident] = relationship(back_populates="assignments")
    unit: Mapped[Any] = relationship("Unit")


class TimelineEvent(db.Model):  # type: ignore[name-defined]
    """One step in the life of an incident, a call or a unit. Rows are inserted, never updated or deleted:
    the ORM refuses (cad.timeline) and database triggers refuse (the migration)."""

    __tablename__ = "timeline_events"
    __table_args__ = (
        sa.CheckConstraint(
            "incident_id IS NOT NULL OR call_id IS NOT NULL OR unit_id IS NOT NULL",
            name="belongs_somewhere",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    call_id: Mapped[int | None] = mapped_column(sa.ForeignKey("calls.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("units.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(sa.String(80))
    source: Mapped[str | None] = mapped_column(sa.String(16))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
