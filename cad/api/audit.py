"""The audit log: who did what, for the administrator."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy import select

from cad.api import api
from cad.api import schemas as s
from cad.api.spec import operation
from cad.db import db
from cad.domain.actors import Person
from cad.models import AuditEntry, Role


class AuditQuery(s.Query):
    limit: int = Field(default=100, ge=1, le=1000)
    before_id: int | None = Field(default=None, ge=1, le=s.MAX_ID)


class AuditOut(s.Reply):
    id: int
    at: Any
    user_id: int | None
    username: str | None
    action: str
    target: str | None
    status: int | None
    ip: str | None


@operation(
    api,
    "/audit",
    "GET",
    summary="The audit log: who did what, newest first",
    roles=(Role.ADMIN,),
    query=AuditQuery,
    response=list[AuditOut],
)
def audit_log(user: Person, query: AuditQuery) -> list[dict[str, Any]]:
    statement = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(query.limit)
    if query.before_id is not None:
        statement = statement.where(AuditEntry.id < query.before_id)
    return [
        {c: getattr(e, c) for c in ("id", "at", "user_id", "username", "action", "target", "status", "ip")}
        for e in db.session.scalars(statement)
    ]
