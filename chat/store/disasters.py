"""Declared disasters and drills: the active one, and the history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Disaster


class DisasterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active(self, *, for_update: bool = False) -> Disaster | None:
        """The active disaster, if any. ``for_update`` locks it, so ending it and a
        second end cannot both act."""
        query = select(Disaster).where(Disaster.active == 1)
        if for_update:
            query = query.with_for_update()
        return (await self.session.scalars(query)).first()

    def add(self, disaster: Disaster) -> None:
        """Add an active disaster; the flush fails on the unique ``active`` index if one
        is active already (the caller turns that into ``disaster_active``)."""
        self.session.add(disaster)

    async def end(self, disaster_id: int, *, at: datetime, by: str) -> bool:
        """End the disaster if still active; False if someone ended it first."""
        result = await self.session.execute(
            update(Disaster).where(Disaster.id == disaster_id, Disaster.active == 1)
            .values(active=None, ended_at=at, ended_by=by))
        return bool(getattr(result, "rowcount", 0))

    async def recent(self, *, limit: int = 20) -> Sequence[Disaster]:
        """The latest declarations, newest first (the console's history)."""
        return (await self.session.scalars(
            select(Disaster).order_by(Disaster.id.desc()).limit(limit))).all()
