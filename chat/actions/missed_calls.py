"""Missed-call notices: where a missed call to a number is posted, the caller's name as
the directory knows it, and the notice itself, collapsed per caller while open (docs/pbx.md
§7). ``notice_target`` is shared with phone memos, which go to the same place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from chat.actions.notices import follow_up_of, phone_channel, post_notice, revise_notice
from chat.context import AppContext
from chat.domain import calls as call_rules
from chat.domain.calls import CallState
from chat.domain.cards.missed_call import MissedCall
from chat.domain.kinds import MessageKind
from chat.domain.notices import Caller, FollowUp
from chat.domain.numbers import Number
from chat.domain.pbx_formats.events import PbxEventIn
from chat.store.models import PbxCall, User
from chat.store.uow import UnitOfWork

log = logging.getLogger(__name__)


async def caller_name(uow: UnitOfWork, number: Number | None) -> str | None:
    """A name for a number: a colleague's extension, a desk phone, or a known contact."""
    if number is None:
        return None
    entry = await uow.pbx.directory_entry(number.value)
    if entry is not None:
        if entry.kind == "user" and entry.user_id is not None:
            user = await uow.users.get(entry.user_id)
            return user.name if user else entry.name or None
        return entry.name or None
    if number.is_extension:
        user = await uow.pbx.user_with_extension(number.value)
        return user.name if user else None
    return None


@dataclass(frozen=True)
class NoticeTarget:
    kind: str            # "user" | "desk"
    name: str
    channel_id: int


async def notice_target(ctx: AppContext, uow: UnitOfWork, extension: str,
                        now: datetime) -> NoticeTarget | None:
    """Where a missed call to ``extension`` is posted: the person's 「電話」 channel, or
    the channel a desk-group phone is bound to; None for a number nobody owns."""
    entry = await uow.pbx.directory_entry(extension)
    user: User | None = None
    if entry is not None and entry.kind == "desk" and entry.channel_id is not None:
        return NoticeTarget("desk", entry.name, entry.channel_id)
    if entry is not None and entry.kind == "user" and entry.user_id is not None:
        user = await uow.users.get(entry.user_id)
    elif entry is None:
        user = await uow.pbx.user_with_extension(extension)
    if user is None or not user.is_active:
        return None
    channel = await phone_channel(ctx, uow, user, now)
    return NoticeTarget("user", user.name, channel.id)


# --- missed-call notices ---------------------------------------------------------------------

async def _missed_call_notice(ctx: AppContext, uow: UnitOfWork, call: PbxCall,
                              event: PbxEventIn, after: call_rules.Call, now: datetime) -> None:
    if call.extension is None:
        return
    target = await notice_target(ctx, uow, call.extension, now)
    if target is None:
        log.info("missed call %s to %s: nobody owns that number", call.call_id,
                 call.extension)
        return
    number = Number(call.from_number) if call.from_number else None
    caller = Caller(number, await caller_name(uow, number) or event.caller_name)
    reason = "voicemail" if after.state is CallState.VOICEMAIL else (
        after.reason.value if after.reason else "no_answer")
    at = after.ended_at or event.occurred_at
    country = ctx.settings.pbx_country_code
    await uow.channels.lock(target.channel_id)
    existing = (await uow.notices.open_missed_call_notice(target.channel_id, number.value,
                                                      call.extension)
                if number is not None else None)
    if existing is not None:
        message = await uow.messages.get(existing.message_id, for_update=True)
        if message is not None and message.deleted_at is None:
            existing.count += 1
            existing.first_at = min(existing.first_at, at)
            existing.last_at = max(existing.last_at, at)
            missed = MissedCall(caller, target.kind, target.name, call.extension, reason,
                                existing.count, existing.first_at, existing.last_at)
            await revise_notice(ctx, uow, message, now=now, body=missed.body(country),
                                card=missed.card(country, await follow_up_of(uow, existing)))
            call.notice_message_id = message.id
            return
    missed = MissedCall(caller, target.kind, target.name, call.extension, reason, 1, at, at)
    message, _ = await post_notice(
        ctx, uow, channel_id=target.channel_id, kind=MessageKind.MISSED_CALL,
        body=missed.body(country), card=missed.card(country, FollowUp()),
        now=now, caller_number=number.value if number else None,
        target_key=call.extension, actor_user_id=None)
    call.notice_message_id = message.id
