"""What the intake could not record: journal entries the centre refused, kept until re-delivered."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from cad.db import UTCDateTime, db


class IntakeFailure(db.Model):  # type: ignore[name-defined]
    """A call or text the SIP agent took but the centre could not store: an alert on the consoles
    until the entry is re-delivered (`warroom sip redeliver`) or someone marks it handled."""

    __tablename__ = "intake_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    phone: Mapped[str | None] = mapped_column(sa.String(64))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(sa.Text)
    payload: Mapped[str] = mapped_column(sa.Text)  # the journal entry as the agent kept it (JSON)
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(sa.String(64))


class SipAgentSeen(db.Model):  # type: ignore[name-defined]
    """When the centre last heard each SIP agent (its once-a-second poll), on any node: an agent
    silent too long is dead, and the calls it held are closed as `dropped` (`cad.domain.sip_agents`)."""

    __tablename__ = "sip_agents"
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # WARROOM_NODE:port
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    heard_since: Mapped[datetime] = mapped_column(UTCDateTime())
    swept_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
