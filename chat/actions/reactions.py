"""Stamps (スタンプ), pins (ピン留め) and confirmations (確認しました) on messages.

None of them changes a message's ``version``: each has its own event (``reaction.updated``,
``pin.updated``, ``confirm.updated``), sent after commit, and history and resync carry
the current state. Each locks the message row, so two members tapping at once are
applied one after the other and the later event carries both.
"""

from __future__ import annotations

from chat.actions.message_reads import audit_privileged_read
from chat.actions.messages import live_message, member_channel
from chat.actions.wire import wire_message, wire_messages
from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import channel_topic
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.dates import wire_time
from chat.domain.messages import MAX_PINS, may_pin
from chat.domain.roles import ChannelKind
from chat.domain.stamps import is_stamp
from chat.errors import (
    BadRequest,
    MessageNotFound,
    NotAnAnnouncement,
    ReadOnlyChannel,
    UnknownStamp,
)
from chat.frames import encode
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON


async def set_reaction(ctx: AppContext, *, actor: Principal, message_id: int, emoji: str,
                       on: bool) -> JSON:
    """Put (``on``) or take back the actor's stamp; idempotent. Returns the message;
    members get ``reaction.updated`` with every stamp of it when something changed."""
    if not is_stamp(emoji):
        raise UnknownStamp()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        message, _ = await live_message(uow, message_id, actor.user_id, for_update=True)
        if on:
            changed = await uow.reactions.add(message.id, actor.user_id, emoji,
                                              ctx.clock.now())
        else:
            changed = await uow.reactions.remove(message.id, actor.user_id, emoji)
        payload = await wire_message(uow, message)
        if changed:
            frame = encode({"type": "reaction.updated", "channel_id": message.channel_id,
                            "message_id": message.id, "reactions": payload["reactions"]})
            topic = channel_topic(message.channel_id)
            uow.on_commit(lambda: ctx.bus.publish(topic, frame))
    await audit_privileged_read(ctx, actor, "react", [payload])
    return payload


async def set_pin(ctx: AppContext, *, actor: Principal, message_id: int,
                  pinned: bool) -> JSON:
    """Pin or unpin a message (members; in announcement channels only announcers);
    idempotent. At most ``MAX_PINS`` pinned messages per channel."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        message, channel = await live_message(uow, message_id, actor.user_id,
                                              for_update=True)
        if not may_pin(actor.role, channel.kind):
            raise ReadOnlyChannel("Only managers and admins may pin in this channel")
        changed = pinned != (message.pinned_at is not None)
        if changed and pinned:
            if len(await uow.messages.pinned(channel.id)) >= MAX_PINS:
                raise BadRequest(f"A channel may have at most {MAX_PINS} pinned messages")
            message.pinned_at, message.pinned_by = ctx.clock.now(), actor.user_id
        elif changed:
            message.pinned_at = message.pinned_by = None
        await uow.flush()
        payload = await wire_message(uow, message)
        if changed:
            frame = encode({"type": "pin.updated", "channel_id": channel.id,
                            "message_id": message.id, "pinned_at": payload["pinned_at"],
                            "pinned_by": message.pinned_by})
            topic = channel_topic(channel.id)
            uow.on_commit(lambda: ctx.bus.publish(topic, frame))
    await audit_privileged_read(ctx, actor, "pin", [payload])
    return payload


async def pinned_messages(ctx: AppContext, *, actor: Principal, channel_id: int
                          ) -> list[JSON]:
    """The channel's pinned messages, newest pin first."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        await member_channel(uow, channel_id, actor.user_id)
        pinned = await wire_messages(uow, await uow.messages.pinned(channel_id))
    await audit_privileged_read(ctx, actor, "pins", pinned)
    return pinned


async def confirm(ctx: AppContext, *, actor: Principal, message_id: int) -> tuple[JSON, int]:
    """The actor's 確認しました on an announcement (idempotent, audited once). Returns
    the message and how many have confirmed it."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        message, channel = await live_message(uow, message_id, actor.user_id,
                                              for_update=True)
        if channel.kind != ChannelKind.ANNOUNCEMENT:
            raise NotAnAnnouncement()
        added = await uow.reactions.confirm(message.id, actor.user_id, ctx.clock.now())
        count = await uow.reactions.confirmed_count(message.id)
        payload = await wire_message(uow, message)
        if added:
            audit_within(ctx, uow, AuditAction.ANNOUNCEMENT_CONFIRMED, actor_user_id=actor.user_id,
                         session_id=actor.session_id, message_id=message.id,
                         channel_id=channel.id)
            frame = encode({"type": "confirm.updated", "channel_id": channel.id,
                            "message_id": message.id, "confirmed_count": count})
            topic = channel_topic(channel.id)
            uow.on_commit(lambda: ctx.bus.publish(topic, frame))
    await audit_privileged_read(ctx, actor, "confirm", [payload])
    return payload, count


async def readers(ctx: AppContext, *, actor: Principal, message_id: int) -> JSON:
    """Who among the channel's members (the sender aside) has read the message (their
    read position is at or past its seq) and who has not, and who confirmed it."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        message = await uow.messages.get(message_id)
        if message is None:
            raise MessageNotFound()
        await member_channel(uow, message.channel_id, actor.user_id)
        members = await uow.channels.members_with_positions(message.channel_id)
        confirmed = await uow.reactions.confirmations(message.id)
    names = {user_id: name for user_id, name, _ in members}
    others = [(u, n, p) for u, n, p in members if u != message.sender_id]
    return {
        "message_id": message.id, "channel_id": message.channel_id,
        "read": [{"user_id": u, "name": n} for u, n, p in others if p >= message.seq],
        "unread": [{"user_id": u, "name": n} for u, n, p in others if p < message.seq],
        "confirmed": [{"user_id": u, "name": names.get(u, ""),
                       "at": wire_time(at)}
                      for u, at in sorted(confirmed.items(), key=lambda item: item[1])],
    }
