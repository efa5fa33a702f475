"""Urgent broadcasts' repeat state and the building/floor groups they go to."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Broadcast, BroadcastGroup, Confirmation, Membership, Message


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, broadcast: Broadcast) -> None:
        self.session.add(broadcast)

    async def get(self, message_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, message_id)

    async def due(self, now: datetime, *, limit: int = 50) -> Sequence[Broadcast]:
        """Broadcasts whose next repeat is at or before ``now``, oldest first. Read
        without a lock: :meth:`claim_repeat` decides who sends each."""
        return (await self.session.scalars(
            select(Broadcast).where(Broadcast.next_repeat_at <= now,
                                    Broadcast.ended_at.is_(None))
            .order_by(Broadcast.next_repeat_at).limit(limit))).all()

    async def claim_repeat(self, message_id: int, *, seen_done: int, now: datetime,
                           next_at: datetime | None) -> bool:
        """Count one repeat if nobody counted it since ``seen_done`` was read: of two
        nodes running the same repeat, exactly one gets True (the conditional update
        takes the row lock; the other's update matches nothing once it commits)."""
        result = await self.session.execute(
            update(Broadcast).where(Broadcast.message_id == message_id,
                                    Broadcast.repeats_done == seen_done,
                                    Broadcast.next_repeat_at <= now,
                                    Broadcast.ended_at.is_(None))
            .values(repeats_done=seen_done + 1, next_repeat_at=next_at))
        return bool(getattr(result, "rowcount", 0))

    async def unconfirmed_for(self, user_id: int, *, since: datetime) -> Sequence[Message]:
        """Broadcasts sent at or after ``since`` into channels ``user_id`` is in, by
        someone else, not deleted, and not confirmed by them; oldest first."""
        confirmed = exists().where(Confirmation.message_id == Broadcast.message_id,
                                   Confirmation.user_id == user_id)
        return (await self.session.scalars(
            select(Message).join(Broadcast, Broadcast.message_id == Message.id)
            .join(Membership, (Membership.channel_id == Broadcast.channel_id)
                  & (Membership.user_id == user_id))
            .where(Broadcast.sent_at >= since, Message.deleted_at.is_(None),
                   Message.sender_id.is_distinct_from(user_id), ~confirmed)
            .order_by(Broadcast.sent_at).limit(20))).all()

    async def end(self, message_id: int, *, at: datetime) -> None:
        """No more repeats (everyone confirmed, or nobody is left to tell)."""
        await self.session.execute(
            update(Broadcast).where(Broadcast.message_id == message_id,
                                    Broadcast.ended_at.is_(None))
            .values(ended_at=at, next_repeat_at=None))

    # -- groups --------------------------------------------------------------------------

    async def groups(self) -> Sequence[BroadcastGroup]:
        return (await self.session.scalars(
            select(BroadcastGroup).order_by(BroadcastGroup.name))).all()

    async def group_named(self, name: str) -> BroadcastGroup | None:
        return (await self.session.scalars(
            select(BroadcastGroup).where(BroadcastGroup.name == name))).first()

    def add_group(self, group: BroadcastGroup) -> None:
        self.session.add(group)
