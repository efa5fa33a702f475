"""Channels and memberships: listing, direct and group chats, joining and leaving."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from chat.actions.message_reads import audit_privileged_read
from chat.actions.wire import wire_messages
from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import joined_topic, left_topic
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.roles import ChannelKind, may_post
from chat.errors import BadRequest, ChannelNotFound, NotAMember, UserNotFound
from chat.frames import channel_json, encode
from chat.store.models import Channel, Membership
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

MAX_GROUP_MEMBERS = 1000


def join(ctx: AppContext, uow: UnitOfWork, channel: Channel, user_id: int, *,
         source: str, now: datetime, as_seen: JSON | None = None,
         actor_user_id: int | None = None, by: str | None = None) -> None:
    """Add a membership (audited); after commit the user's connections start receiving
    the channel. ``as_seen`` overrides fields of the announced channel for this user (a
    direct chat is named after the other person)."""
    uow.channels.add_membership(Membership(channel_id=channel.id, user_id=user_id,
                                           source=source, joined_at=now, last_read_seq=0))
    audit_within(ctx, uow, AuditAction.MEMBERSHIP_ADDED, actor_user_id=actor_user_id,
                 subject_user_id=user_id, channel_id=channel.id, source=source, by=by)

    async def announce() -> None:
        frame = {"type": "channel.joined",
                 "channel": {**channel_json(channel), "last_read_seq": 0, **(as_seen or {})}}
        await ctx.bus.publish(joined_topic(user_id, channel.id), encode(frame))

    uow.on_commit(announce)


async def leave(ctx: AppContext, uow: UnitOfWork, channel_id: int, user_id: int, *,
                actor_user_id: int | None = None, by: str | None = None) -> None:
    """Remove a membership (audited); after commit the user's connections stop
    receiving it."""
    await uow.channels.remove_membership(channel_id, user_id)
    audit_within(ctx, uow, AuditAction.MEMBERSHIP_REMOVED, actor_user_id=actor_user_id,
                 subject_user_id=user_id, channel_id=channel_id, by=by)
    frame = encode({"type": "channel.left", "channel_id": channel_id})
    uow.on_commit(lambda: ctx.bus.publish(left_topic(user_id, channel_id), frame))


async def list_channels(ctx: AppContext, *, actor: Principal) -> list[JSON]:
    """The actor's channels with unread counts and the last message. ``may_post`` says
    whether the actor may post there (false for staff in an announcement channel), so
    the client offers a composer only where a message would be taken."""
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        summaries = await uow.channels.summaries_for(actor.user_id)
        partners = await uow.channels.direct_partners(actor.user_id)
        partner_users = {u.id: u for u in await uow.users.many(list(partners.values()))}
        latest = [s.last_message for s in summaries if s.last_message is not None]
        wired = {m["id"]: m for m in await wire_messages(uow, latest)}
    # The websocket's ready snapshot is this list too.
    await audit_privileged_read(ctx, actor, "channels", list(wired.values()))
    result = []
    for s in summaries:
        item = {**channel_json(s.channel), "last_read_seq": s.last_read_seq,
                "unread": s.unread, "muted": s.muted,
                "may_post": may_post(actor.role, s.channel.kind),
                "last_message": wired[s.last_message.id] if s.last_message else None}
        partner = partner_users.get(partners.get(s.channel.id, -1))
        if partner is not None:
            item["name"] = partner.name
            item["partner_id"] = partner.id
        result.append(item)
    return result


async def set_muted(ctx: AppContext, *, actor: Principal, channel_id: int,
                    muted: bool) -> JSON:
    """Mute or unmute the channel's Web Push for the actor (a mention still pushes)."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        if await uow.channels.get(channel_id) is None:
            raise ChannelNotFound()
        if not await uow.channels.set_muted(channel_id, actor.user_id, muted):
            raise NotAMember()
    return {"channel_id": channel_id, "muted": muted}


async def open_direct(ctx: AppContext, *, actor: Principal, other_user_id: int) -> JSON:
    """The direct channel between the actor and another user, created on first use."""
    if other_user_id == actor.user_id:
        raise BadRequest("A direct chat needs another person")
    low, high = sorted((actor.user_id, other_user_id))
    key = f"{low}:{high}"
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        other = await uow.users.get(other_user_id)
        if other is None or not other.is_active:
            raise UserNotFound()
        channel = await uow.channels.by_direct_key(key)
        if channel is None:
            me = await uow.users.get(actor.user_id)
            assert me is not None
            channel = Channel(kind=ChannelKind.DIRECT, name=f"{me.name}・{other.name}",
                              direct_key=key, last_seq=0, last_version=0, created_at=now,
                              created_by=actor.user_id)
            uow.channels.add(channel)
            await uow.flush()
            join(ctx, uow, channel, me.id, source="manual", now=now,
                 as_seen={"name": other.name, "partner_id": other.id},
                 actor_user_id=actor.user_id)
            join(ctx, uow, channel, other.id, source="manual", now=now,
                 as_seen={"name": me.name, "partner_id": me.id}, actor_user_id=actor.user_id)
        return {**channel_json(channel), "name": other.name, "partner_id": other.id}


async def create_group(ctx: AppContext, *, actor: Principal, name: str,
                       member_ids: Sequence[int]) -> JSON:
    """A group chat of the actor and ``member_ids`` (active users only)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadRequest("A group needs a name of 1 to 100 characters")
    wanted = {actor.user_id, *member_ids}
    if len(wanted) > MAX_GROUP_MEMBERS:
        raise BadRequest(f"A group may have at most {MAX_GROUP_MEMBERS} members")
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        users = await uow.users.many(sorted(wanted))
        active = {u.id for u in users if u.is_active}
        missing = wanted - active
        if missing:
            raise UserNotFound(f"No such active users: {sorted(missing)}")
        channel = Channel(kind=ChannelKind.GROUP, name=name, last_seq=0, last_version=0,
                          created_at=now, created_by=actor.user_id)
        uow.channels.add(channel)
        await uow.flush()
        for user_id in sorted(wanted):
            join(ctx, uow, channel, user_id, source="manual", now=now,
                 actor_user_id=actor.user_id)
        return channel_json(channel)


async def current_memberships(ctx: AppContext,
                              user_ids: Sequence[int]) -> dict[int, dict[int, JSON] | None]:
    """What the hub reconciles its subscriptions against: for each user, their channels
    (as in the ready frame), or None when the user is inactive or gone."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        found = await uow.channels.memberships_by_user(user_ids)
    return {user_id: ({c.id: {**channel_json(c), "last_read_seq": r}
                       for c, r in found[user_id]} if user_id in found else None)
            for user_id in user_ids}
