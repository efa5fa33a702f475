"""Notices in their own repository (chat.store.notices, ``uow.notices``): the follow-up
row beside a notice's message, the collapse look-up and the conditional claim, on every
backend; and ``post_notice`` refusing a kind whose card keeps no notice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from chat.actions.notices import post_notice
from chat.context import AppContext, open_context
from chat.demo import _principals
from chat.domain.kinds import MessageKind
from chat.domain.notices import NoticeState
from chat.store.models import Channel, Message
from chat.store.uow import TxMode, unit_of_work
from tests.support import base_settings, prepare_database

NUMBER = "+81312345678"


@pytest.fixture
async def ctx(database_url: str, tmp_path: Path) -> AsyncIterator[AppContext]:
    settings = base_settings(database_url, tmp_path / "var")
    prepare_database(settings, seed=True)
    async with open_context(settings) as context:
        yield context


async def _a_channel(ctx: AppContext) -> int:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        channel = await uow.session.scalar(
            select(Channel.id).where(Channel.kind == "department").limit(1))
        assert channel is not None
        return channel


async def _post(ctx: AppContext, channel: int, kind: MessageKind, *,
                target: str | None) -> int:
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        message, notice = await post_notice(
            ctx, uow, channel_id=channel, kind=kind, body=f"{kind} から", card={},
            now=ctx.clock.now(), caller_number=NUMBER, target_key=target,
            actor_user_id=None)
        assert notice.message_id == message.id
        return message.id


async def test_a_repeated_missed_call_finds_the_newest_open_call_notice(
        ctx: AppContext) -> None:
    channel = await _a_channel(ctx)
    older = await _post(ctx, channel, MessageKind.MISSED_CALL, target="2101")
    newer = await _post(ctx, channel, MessageKind.MISSED_CALL, target="2101")
    await _post(ctx, channel, MessageKind.MISSED_CALL, target="2150")
    await _post(ctx, channel, MessageKind.MEMO, target="2101")   # a memo never collapses
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        found = await uow.notices.open_missed_call_notice(channel, NUMBER, "2101")
        assert found is not None and found.message_id == newer
        people = await _principals(ctx)
        someone = next(iter(people.values())).user_id
        assert await uow.notices.take_notice(found.id, user_id=someone,
                                             now=ctx.clock.now(), finish=True)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        # Once the newer one is done, a call collapses into the older one still open.
        found = await uow.notices.open_missed_call_notice(channel, NUMBER, "2101")
        assert found is not None and found.message_id == older
        done = await uow.notices.notice_of_message(newer)
        assert done is not None and done.state == NoticeState.DONE


async def test_a_notice_is_claimed_once(ctx: AppContext) -> None:
    channel = await _a_channel(ctx)
    message_id = await _post(ctx, channel, MessageKind.MEMO, target=None)
    first, second = [p.user_id for p in list((await _principals(ctx)).values())[:2]]
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        notice = await uow.notices.notice_of_message(message_id)
        assert notice is not None and notice.kind == MessageKind.MEMO
        now = ctx.clock.now()
        assert await uow.notices.take_notice(notice.id, user_id=first, now=now,
                                             finish=False)
        assert not await uow.notices.take_notice(notice.id, user_id=second, now=now,
                                                 finish=False)
        # Finishing needs it open or claimed by the one who finishes.
        assert not await uow.notices.take_notice(notice.id, user_id=second, now=now,
                                                 finish=True)
        assert await uow.notices.take_notice(notice.id, user_id=first, now=now, finish=True)


async def test_only_a_kind_whose_card_keeps_a_notice_is_posted_as_one(
        ctx: AppContext) -> None:
    channel = await _a_channel(ctx)
    with pytest.raises(ValueError, match="not a notice kind"):
        await _post(ctx, channel, MessageKind.TEXT, target=None)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        assert await uow.session.scalar(
            select(func.count()).select_from(Message).where(
                Message.channel_id == channel, Message.sender_id.is_(None))) == 0
