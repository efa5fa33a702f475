"""Run-time settings every node shares (working hours, disaster mode), stored as JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import SystemSetting


class SystemSettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def values(self, keys: Iterable[str]) -> dict[str, Any]:
        rows = await self.session.scalars(
            select(SystemSetting).where(SystemSetting.key.in_(list(keys))))
        return {row.key: json.loads(row.value) for row in rows}

    async def with_prefix(self, prefix: str) -> list[tuple[str, Any, datetime]]:
        """(key, value, updated_at) of every setting whose key starts with ``prefix``."""
        rows = await self.session.scalars(
            select(SystemSetting).where(SystemSetting.key.startswith(prefix, autoescape=True))
            .order_by(SystemSetting.key))
        return [(row.key, json.loads(row.value), row.updated_at) for row in rows]

    async def put(self, key: str, value: Any, *, at: datetime, by: str) -> None:
        row = await self.session.get(SystemSetting, key)
        encoded = json.dumps(value, ensure_ascii=False, sort_keys=True)
        if row is None:
            self.session.add(SystemSetting(key=key, value=encoded, updated_at=at,
                                           updated_by=by))
        else:
            row.value, row.updated_at, row.updated_by = encoded, at, by
        await self.session.flush()

    async def remove(self, key: str) -> None:
        await self.session.execute(delete(SystemSetting).where(SystemSetting.key == key))

    async def remove_prefix_older(self, prefix: str, before: datetime) -> int:
        """Delete the settings under ``prefix`` not written since ``before``; how many."""
        result = await self.session.execute(
            delete(SystemSetting)
            .where(SystemSetting.key.startswith(prefix, autoescape=True),
                   SystemSetting.updated_at < before))
        return int(getattr(result, "rowcount", 0) or 0)
