"""Tables that carry work between processes: the live-event log the consoles' streams read,
the scheduler's job store (APScheduler's own layout) and the lease that makes one scheduler
the one that runs jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cad.db import UTCDateTime, db


class LiveEvent(db.Model):  # type: ignore[name-defined]
    """A change every console should hear of, written in the transaction that made it."""

    __tablename__ = "live_events"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SchedulerLease(db.Model):  # type: ignore[name-defined]
    """Whoever holds an unexpired lease runs the jobs; the others wait."""

    __tablename__ = "scheduler_leases"
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(120))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: APScheduler 3's SQLAlchemyJobStore table, created by our migrations rather than by APScheduler.
apscheduler_jobs = sa.Table(
    "apscheduler_jobs",
    db.metadata,
    sa.Column("id", sa.Unicode(191), primary_key=True),
    sa.Column("next_run_time", sa.Float(25), index=True),
    sa.Column("job_state", sa.LargeBinary, nullable=False),
)


class RateLimitCounter(db.Model):  # type: ignore[name-defined]
    """A fixed-window count shared by every worker (`cad.rate_limits`): expired rows start over."""

    __tablename__ = "rate_limit_counters"
    key: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    count: Mapped[int] = mapped_column(sa.Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RateLimitEntry(db.Model):  # type: ignore[name-defined]
    """One hit in a moving window shared by every worker (`cad.rate_limits`)."""

    __tablename__ = "rate_limit_entries"
    __table_args__ = (sa.Index("ix_rate_limit_entries_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    amount: Mapped[int] = mapped_column(sa.Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
