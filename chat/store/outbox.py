"""The bus outbox in the database (chat.bus.outbox explains why it exists)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.bus.outbox import KEEP_SECONDS
from chat.store.db import Database
from chat.store.models import BusOutboxEvent
from chat.store.uow import TxMode, unit_of_work


class BusOutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, events: Sequence[tuple[str, str]], *, now: datetime) -> None:
        await self.session.execute(insert(BusOutboxEvent), [
            {"topic": topic, "data": data, "created_at": now} for topic, data in events])

    async def prune(self, *, before: datetime) -> None:
        await self.session.execute(
            delete(BusOutboxEvent).where(BusOutboxEvent.created_at < before))

    async def last_id(self) -> int:
        return int(await self.session.scalar(select(func.max(BusOutboxEvent.id))) or 0)

    async def after(self, last_id: int, limit: int) -> list[tuple[int, str, str]]:
        rows = await self.session.execute(
            select(BusOutboxEvent.id, BusOutboxEvent.topic, BusOutboxEvent.data)
            .where(BusOutboxEvent.id > last_id).order_by(BusOutboxEvent.id).limit(limit))
        return [(row.id, row.topic, row.data) for row in rows]


class DatabaseOutbox:
    """:class:`chat.bus.outbox.Outbox` on the instance's database. The wall clock, not
    the context's: the rows' age only decides when they are pruned."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, events: Sequence[tuple[str, str]]) -> None:
        now = datetime.now(UTC)
        async with unit_of_work(self._db, TxMode.WRITE) as uow:
            if uow.dialect == "postgresql":
                # Writers one at a time, so ids commit in order: a node that read id 11
                # while 10 was still uncommitted would never read 10. (SQLite's writes
                # are serial anyway.) Readers are not blocked.
                await uow.session.execute(
                    text("LOCK TABLE bus_outbox IN SHARE ROW EXCLUSIVE MODE"))
            outbox = BusOutboxRepository(uow.session)
            await outbox.add(events, now=now)
            await outbox.prune(before=now - timedelta(seconds=KEEP_SECONDS))

    async def last_id(self) -> int:
        async with unit_of_work(self._db, TxMode.SHORT_READ) as uow:
            return await BusOutboxRepository(uow.session).last_id()

    async def after(self, last_id: int, limit: int) -> list[tuple[int, str, str]]:
        async with unit_of_work(self._db, TxMode.SHORT_READ) as uow:
            return await BusOutboxRepository(uow.session).after(last_id, limit)
