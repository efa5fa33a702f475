"""Queries on system notices' follow-up state (the ``notices`` row beside a notice's
message): adding one, finding the open notice a repeated missed call collapses into, and
the conditional claim and finish. The card kinds that keep such a row are the ones whose
card stores ``Stored.NOTICE`` (chat.domain.cards)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.domain.kinds import MessageKind
from chat.domain.notices import NoticeState
from chat.store.models import Notice


class NoticeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add_notice(self, notice: Notice) -> None:
        self.session.add(notice)

    async def notice_of_message(self, message_id: int) -> Notice | None:
        return await self.session.scalar(select(Notice).where(Notice.message_id == message_id))

    async def open_missed_call_notice(self, channel_id: int, number: str,
                                      target_key: str) -> Notice | None:
        """The newest notice in ``channel_id`` for missed calls from ``number`` to the
        same target that nobody has finished yet: a new call collapses into it. The
        caller holds the channel's row lock (``uow.channels.lock``), so two calls racing
        into one channel see each other's notice rather than both post one."""
        return await self.session.scalar(
            select(Notice).where(Notice.channel_id == channel_id,
                                 Notice.kind == MessageKind.MISSED_CALL,
                                 Notice.caller_number == number,
                                 Notice.target_key == target_key,
                                 Notice.state != NoticeState.DONE)
            .order_by(Notice.id.desc()).limit(1))

    async def take_notice(self, notice_id: int, *, user_id: int, now: datetime,
                          finish: bool) -> bool:
        """Claim (``finish=False``) or finish (``finish=True``) a notice, if no one else
        holds it: one conditional UPDATE, so of several racing members exactly one
        succeeds. Claiming needs the notice open; finishing needs it open or claimed by
        ``user_id``. Returns whether this call changed it."""
        if finish:
            stmt = (update(Notice)
                    .where(Notice.id == notice_id,
                           or_(Notice.state == NoticeState.OPEN,
                               and_(Notice.state == NoticeState.CLAIMED,
                                    Notice.claimed_by == user_id)))
                    .values(state=NoticeState.DONE.value, done_by=user_id, done_at=now))
        else:
            stmt = (update(Notice)
                    .where(Notice.id == notice_id, Notice.state == NoticeState.OPEN)
                    .values(state=NoticeState.CLAIMED.value, claimed_by=user_id, claimed_at=now))
        result = await self.session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))
