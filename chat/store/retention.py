"""Retention policies, legal holds, and the purge's reads and writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.domain.roles import ChannelKind
from chat.store.models import (
    Channel,
    LegalHold,
    Membership,
    Message,
    MessageRevision,
    Notice,
    RetentionPolicy,
)

CONVERSATION_KINDS = (ChannelKind.DIRECT.value, ChannelKind.GROUP.value)


class RetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- policies ----------------------------------------------------------------------

    async def policies(self) -> Sequence[RetentionPolicy]:
        return (await self.session.scalars(
            select(RetentionPolicy).order_by(RetentionPolicy.channel_kind,
                                             RetentionPolicy.channel_id))).all()

    async def policy_for(self, *, channel_kind: str | None,
                         channel_id: int | None) -> RetentionPolicy | None:
        stmt = select(RetentionPolicy)
        stmt = (stmt.where(RetentionPolicy.channel_id == channel_id) if channel_id is not None
                else stmt.where(RetentionPolicy.channel_kind == channel_kind))
        return await self.session.scalar(stmt)

    def add_policy(self, policy: RetentionPolicy) -> None:
        self.session.add(policy)

    async def delete_policy(self, policy: RetentionPolicy) -> None:
        await self.session.delete(policy)

    # -- legal holds -------------------------------------------------------------------

    def add_hold(self, hold: LegalHold) -> None:
        self.session.add(hold)

    async def hold(self, hold_id: int, *, for_update: bool = False) -> LegalHold | None:
        stmt = select(LegalHold).where(LegalHold.id == hold_id)
        return await self.session.scalar(stmt.with_for_update() if for_update else stmt)

    async def holds(self, *, include_released: bool = False) -> Sequence[LegalHold]:
        stmt = select(LegalHold).order_by(LegalHold.id)
        if not include_released:
            stmt = stmt.where(LegalHold.released_at.is_(None))
        return (await self.session.scalars(stmt)).all()

    async def conversation_ids(self, user_id: int) -> frozenset[int]:
        """The direct and group chats ``user_id`` is in (what a hold on them covers)."""
        rows = await self.session.scalars(
            select(Membership.channel_id).join(Channel, Channel.id == Membership.channel_id)
            .where(Membership.user_id == user_id, Channel.kind.in_(CONVERSATION_KINDS)))
        return frozenset(rows.all())

    # -- purge -------------------------------------------------------------------------

    async def count_expired(self, channel_id: int, cutoff: datetime) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(Message)
            .where(Message.channel_id == channel_id, Message.created_at < cutoff,
                   Message.purged_at.is_(None))) or 0)

    async def expired_page(self, channel_id: int, cutoff: datetime, *, after_id: int,
                           limit: int, lock: bool) -> Sequence[Message]:
        """Unpurged messages created before ``cutoff``, by id after ``after_id``; with
        ``lock``, locked for this transaction (a concurrent edit waits, then finds the
        message purged)."""
        stmt = (select(Message)
                .where(Message.channel_id == channel_id, Message.created_at < cutoff,
                       Message.purged_at.is_(None), Message.id > after_id)
                .order_by(Message.id).limit(limit))
        return (await self.session.scalars(stmt.with_for_update() if lock else stmt)).all()

    async def forget_notice_callers(self, message_ids: Sequence[int]) -> None:
        """A purged call notice or phone memo keeps no caller number."""
        if message_ids:
            await self.session.execute(
                update(Notice).where(Notice.message_id.in_(message_ids))
                .values(caller_number=None))

    async def delete_revisions(self, message_ids: Sequence[int]) -> int:
        """Remove every stored text of these messages; returns how many revisions went."""
        if not message_ids:
            return 0
        result = await self.session.execute(
            delete(MessageRevision).where(MessageRevision.message_id.in_(message_ids)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
