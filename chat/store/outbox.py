"""The bus outbox in the database (chat.bus.outbox explains why it exists)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Integer, bindparam, delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.bus.outbox import KEEP_SECONDS
from chat.store.db import Database
from chat.store.models import BusOutboxEvent
from chat.store.sqlite_inline import InlineStatement
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
        rows = await self._db.read_now(_LAST_ID, {})
        return int(rows[0][0] or 0)

    async def after(self, last_id: int, limit: int) -> list[tuple[int, str, str]]:
        """Polled four times a second by every serving node, nearly always finding
        nothing: a read without a session (:meth:`Database.read_now`)."""
        rows = await self._db.read_now(_AFTER, {"last": last_id, "limit": limit})
        return [(int(row_id), str(topic), str(data)) for row_id, topic, data in rows]


_OUTBOX = BusOutboxEvent.__table__
_LAST_ID = InlineStatement(select(func.max(_OUTBOX.c.id)))
_AFTER = InlineStatement(
    select(_OUTBOX.c.id, _OUTBOX.c.topic, _OUTBOX.c.data)
    .where(_OUTBOX.c.id > bindparam("last", type_=BigInteger))
    .order_by(_OUTBOX.c.id).limit(bindparam("limit", type_=Integer)))
