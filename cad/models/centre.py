"""What a database says about the centre it holds: marks (a demo seeded it) and the simulator's lease."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cad.db import UTCDateTime, db


class CentreMark(db.Model):  # type: ignore[name-defined]
    """A fact about this database written once (`demo_seeded`: `warroom demo seed` made this centre,
    so the simulator may place fake calls and take over the GPS tokens here, and nowhere else)."""

    __tablename__ = "centre_marks"
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    value: Mapped[str] = mapped_column(sa.Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class SimulatorLease(db.Model):  # type: ignore[name-defined]
    """The one simulator that holds the units' GPS tokens: others refuse until it expires."""

    __tablename__ = "simulator_leases"
    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(120))
    host: Mapped[str] = mapped_column(sa.String(255))
    pid: Mapped[int] = mapped_column(sa.Integer)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
