"""Stamps on messages and confirmations (確認しました) of announcements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Confirmation, Reaction


class ReactionRepository:
    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect

    async def _insert_once(self, model: Any, values: dict[str, Any]) -> bool:
        """INSERT … ON CONFLICT DO NOTHING: two taps racing store one row, no error.
        True when this call stored it."""
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        result = await self.session.execute(
            insert(model).values(**values).on_conflict_do_nothing())
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add(self, message_id: int, user_id: int, emoji: str, now: datetime) -> bool:
        return await self._insert_once(Reaction, {
            "message_id": message_id, "user_id": user_id, "emoji": emoji, "created_at": now})

    async def remove(self, message_id: int, user_id: int, emoji: str) -> bool:
        result = await self.session.execute(delete(Reaction).where(
            Reaction.message_id == message_id, Reaction.user_id == user_id,
            Reaction.emoji == emoji))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def of_messages(self, message_ids: Sequence[int]
                          ) -> dict[int, list[tuple[str, int]]]:
        """message id → ``(stamp, user_id)`` pairs, oldest first."""
        if not message_ids:
            return {}
        rows = await self.session.execute(
            select(Reaction.message_id, Reaction.emoji, Reaction.user_id)
            .where(Reaction.message_id.in_(sorted(set(message_ids))))
            .order_by(Reaction.created_at, Reaction.user_id))
        result: dict[int, list[tuple[str, int]]] = {}
        for message_id, emoji, user_id in rows.all():
            result.setdefault(int(message_id), []).append((str(emoji), int(user_id)))
        return result

    # -- confirmations -----------------------------------------------------------------

    async def confirm(self, message_id: int, user_id: int, now: datetime) -> bool:
        return await self._insert_once(Confirmation, {
            "message_id": message_id, "user_id": user_id, "confirmed_at": now})

    async def confirmed_count(self, message_id: int) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(Confirmation)
            .where(Confirmation.message_id == message_id)) or 0)

    async def confirmations(self, message_id: int) -> dict[int, datetime]:
        rows = await self.session.execute(
            select(Confirmation.user_id, Confirmation.confirmed_at)
            .where(Confirmation.message_id == message_id))
        return {int(u): at for u, at in rows.all()}
