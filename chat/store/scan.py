"""Reading a whole table in bounded memory (``audit verify``, exports)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from chat.store.models import Base

Row = TypeVar("Row", bound=Base)


async def scan(session: AsyncSession, model: type[Row], key: InstrumentedAttribute[int], *,
               batch: int = 1000) -> AsyncIterator[Row]:
    """Every row of ``model`` by ascending ``key``, a page at a time (keyset pagination);
    each page is dropped from the session before the next is read."""
    after: int | None = None
    while True:
        stmt = select(model).order_by(key).limit(batch)
        if after is not None:
            stmt = stmt.where(key > after)
        rows = (await session.scalars(stmt)).all()
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        after = getattr(rows[-1], key.key)
        session.expunge_all()
