"""Declaring and ending a disaster or a drill: one at a time, the HQ channel with its
members, the off-hours limit lifted while it lasts, every step audited."""

from __future__ import annotations

import pytest

from chat.actions.disaster import (
    current_disaster,
    declare_disaster,
    end_disaster,
    set_hq_members,
)
from chat.auth.policy import DISASTER_MODE_KEY
from chat.context import open_context
from chat.domain.disaster import HQ_CHANNEL_SLUG
from chat.errors import BadRequest, CrisisOnly, DisasterActive, NoActiveDisaster
from chat.store.uow import TxMode, unit_of_work
from tests.support import RunningServer, beside
from tests.support.people import SUZUKI, TANAKA


async def test_a_drill_opens_the_hq_with_its_members_and_lifts_the_limit_until_it_ends(
        server: RunningServer) -> None:
    async with open_context(beside(server.settings)) as ctx:
        await set_hq_members(ctx, [SUZUKI, TANAKA], by="test")
        state = await declare_disaster(ctx, name="  総合防災訓練 ", drill=True, by="test")
        assert state.title == "【訓練】総合防災訓練" and state.active
        assert await current_disaster(ctx) == state
        with pytest.raises(DisasterActive):
            await declare_disaster(ctx, name="もう一つ", drill=False, by="test")
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            hq = await uow.channels.by_slug(HQ_CHANNEL_SLUG)
            assert hq is not None and hq.name == "災害対策本部"
            members = {u.staff_number for u in await uow.users.many(
                list(await uow.channels.member_ids(hq.id)))}
            flag = (await uow.system_settings.values([DISASTER_MODE_KEY]))[DISASTER_MODE_KEY]
        assert {SUZUKI, TANAKA} <= members and flag is True
        ended = await end_disaster(ctx, by="test")
        assert ended.id == state.id and not ended.active
        assert await current_disaster(ctx) is None
        with pytest.raises(NoActiveDisaster):
            await end_disaster(ctx, by="test")
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            flag = (await uow.system_settings.values([DISASTER_MODE_KEY]))[DISASTER_MODE_KEY]
            actions = [e.action for e in await uow.audit.recent(limit=50)]
        assert flag is False
        assert "disaster.declared" in actions and "disaster.ended" in actions


async def test_only_crisis_staff_and_admins_declare_and_names_are_checked(
        server: RunningServer) -> None:
    async with open_context(beside(server.settings)) as ctx:
        with pytest.raises(CrisisOnly):
            await declare_disaster(ctx, name="台風", drill=False, by="x", actor_role="staff")
        with pytest.raises(BadRequest):
            await declare_disaster(ctx, name="   ", drill=False, by="x", actor_role="crisis")
        with pytest.raises(BadRequest, match="unknown staff numbers"):
            await set_hq_members(ctx, ["no-such-person"], by="test")
        state = await declare_disaster(ctx, name="台風第10号", drill=False, by="x",
                                       actor_role="crisis")
        assert state.title == "台風第10号"
