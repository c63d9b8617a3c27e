"""Use cases of road congestion: a camera's reading is stored, then counts for routing until it expires."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cad import clock
from cad.domain.errors import InvalidInput, NotFound
from cad.events import publish_after_commit
from cad.models import Camera, CongestionReading
from routing import DEFAULT_LEVELS

LEVELS = tuple(DEFAULT_LEVELS)


def record_reading(
    session: Session, code: str, level: str, observed_at: datetime | None, ttl_s: float
) -> CongestionReading:
    camera = session.scalar(select(Camera).where(Camera.code == code))
    if camera is None:
        raise NotFound(f"no camera {code!r}", "code")
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", "level")
    now = clock.now()
    observed = min(observed_at or now, now)  # a camera clock ahead of ours does not extend a jam
    if now - observed > timedelta(seconds=ttl_s):
        raise InvalidInput(f"observed_at is older than the {int(ttl_s)} s a reading counts for", "observed_at")
    reading = CongestionReading(
        camera_id=camera.id,
        level=level,
        observed_at=observed,
        received_at=now,
        expires_at=observed + timedelta(seconds=ttl_s),
    )
    session.add(reading)
    session.flush()
    publish_after_commit(
        session, "congestion", {"camera": code, "level": level, "expires_at": reading.expires_at.isoformat()}
    )
    session.commit()
    return reading


def latest_readings(session: Session, now: datetime) -> dict[int, CongestionReading]:
    """Each camera's newest unexpired reading."""
    rows = session.scalars(
        select(CongestionReading)
        .where(CongestionReading.expires_at > now)
        .order_by(CongestionReading.observed_at, CongestionReading.id)
    )
    return {r.camera_id: r for r in rows}
