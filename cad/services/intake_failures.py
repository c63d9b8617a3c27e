"""Calls and texts the intake took but the centre could not store: kept, alerted, re-delivered.

A SIP agent's journal entry that the centre refused (4xx) is never dropped in silence: the agent
reports it (`set_aside`), the consoles show an alert until it is re-delivered
(`warroom sip redeliver`) or a call-taker marks it handled.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cad import clock
from cad.domain.calls import fitted
from cad.domain.errors import NotFound
from cad.events import publish_after_commit
from cad.models import IntakeFailure


def intake_failed(session: Session, *, entry: dict[str, Any], reason: str) -> IntakeFailure:
    """An agent could not deliver `entry` (its journal entry, as kept): on record once, alerted."""
    entry_id = str(entry.get("id") or "")[:64] or "unknown"
    existing = session.scalar(select(IntakeFailure).where(IntakeFailure.entry_id == entry_id))
    if existing is not None:
        return existing
    payload = entry.get("payload") if isinstance(entry.get("payload"), dict) else {}
    failure = IntakeFailure(
        entry_id=entry_id,
        kind=str(entry.get("kind") or "?")[:16],
        phone=str(payload.get("phone"))[:64] if payload.get("phone") else None,
        received_at=_when(payload.get("received_at")) or _when(entry.get("at")),
        reason=fitted(reason.replace("\x00", "\ufffd"), 2000),
        payload=json.dumps(entry, ensure_ascii=False, default=str).replace("\x00", "\\u0000"),
        reported_at=clock.now(),
    )
    session.add(failure)
    session.flush()
    publish_after_commit(session, "intake_failure", render(failure))
    session.commit()
    return failure


def redelivered(session: Session, entry_id: str, by: str) -> IntakeFailure | None:
    """The entry reached the centre after all: the alert goes."""
    failure = session.scalar(select(IntakeFailure).where(IntakeFailure.entry_id == entry_id))
    if failure is None or failure.resolved_at is not None:
        return failure
    return _resolve(session, failure, by)


def resolve(session: Session, failure_id: int, by: str) -> IntakeFailure:
    """Someone has dealt with it (called the number back): the alert goes, the record stays."""
    failure = session.get(IntakeFailure, failure_id)
    if failure is None:
        raise NotFound(f"no intake failure {failure_id}", "failure_id")
    if failure.resolved_at is not None:
        return failure
    return _resolve(session, failure, by)


def _resolve(session: Session, failure: IntakeFailure, by: str) -> IntakeFailure:
    failure.resolved_at, failure.resolved_by = clock.now(), by[:64]
    publish_after_commit(session, "intake_failure", render(failure))
    session.commit()
    return failure


def open_failures(session: Session, limit: int = 100) -> list[IntakeFailure]:
    return list(
        session.scalars(
            select(IntakeFailure)
            .where(IntakeFailure.resolved_at.is_(None))
            .order_by(IntakeFailure.reported_at.desc())
            .limit(limit)
        )
    )


def render(failure: IntakeFailure) -> dict[str, Any]:
    return {
        "id": failure.id,
        "entry_id": failure.entry_id,
        "kind": failure.kind,
        "phone": failure.phone,
        "received_at": failure.received_at,
        "reason": failure.reason,
        "reported_at": failure.reported_at,
        "resolved_at": failure.resolved_at,
        "resolved_by": failure.resolved_by,
    }


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
