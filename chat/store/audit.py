"""The audit log: append and read, never update or delete."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import AuditEvent


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def append(self, event: AuditEvent) -> None:
        self.session.add(event)

    async def recent(self, *, action_prefix: str | None = None,
                     limit: int = 100) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if action_prefix:
            stmt = stmt.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
        return (await self.session.scalars(stmt)).all()
