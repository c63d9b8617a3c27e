"""The audit log: who did what, from where, through the consoles or the API."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cad.db import UTCDateTime, db


class AuditEntry(db.Model):  # type: ignore[name-defined]
    """One action of a person (a state-changing request, a login, a refused login). Rows are only added."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    username: Mapped[str | None] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(80))
    target: Mapped[str | None] = mapped_column(sa.String(255))
    status: Mapped[int | None] = mapped_column(sa.SmallInteger)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
