"""Urgent broadcasts (緊急放送): what the building's PA did, on every phone.

A person with a broadcasting role (``BROADCASTERS``) sends one to everyone (the
all-staff channel) or to a building/floor group the city configured (an announcement
channel of its own). In one transaction: the message (kind ``broadcast``, a seq, revision
1, ``message.created`` in the audit log), its repeat state (``broadcasts``) and
``broadcast.sent``. After commit the channel's members get the ``message`` frame (their
phones open it full screen) and a Web Push that ignores mute. Confirming is the
announcement's 確認しました (``chat.actions.reactions.confirm``; the sender watches
``confirm.updated`` and the readers list). Every node runs :func:`repeat_due_broadcasts`;
a conditional update on the repeat count lets exactly one of them send each repeat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from chat.actions.card_entries import card_entry, text_field
from chat.actions.card_messages import post_card_message
from chat.actions.channels import join, leave
from chat.actions.message_reads import audit_privileged_read
from chat.actions.orgchart import ALL_STAFF_SLUG
from chat.actions.push import push_broadcast
from chat.actions.wire import wire_message, wire_messages
from chat.audit.record import audit, audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import user_topic
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.broadcast import (
    ALL_STAFF_LABEL,
    ALL_STAFF_TARGET,
    BROADCAST_TTL_SECONDS,
    BroadcastRuleError,
    RepeatPlan,
    broadcast_note,
    clean_group_name,
    clean_text,
    group_channel_name,
    may_broadcast,
)
from chat.domain.cards.broadcast import BroadcastCard
from chat.domain.kinds import MessageKind
from chat.domain.roles import ChannelKind
from chat.errors import BadRequest, BroadcastOnly, UnknownBroadcastGroup
from chat.frames import encode
from chat.store.models import Broadcast, BroadcastGroup, Channel, Message
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

GROUP_SOURCE = "broadcast"   # memberships of a group's channel, set by the admin


def repeat_plan(ctx: AppContext) -> RepeatPlan:
    return RepeatPlan(every=timedelta(seconds=ctx.settings.broadcast_repeat_seconds),
                      max_repeats=ctx.settings.broadcast_max_repeats)


@card_entry(MessageKind.BROADCAST)
async def post_broadcast_card(ctx: AppContext, actor: Principal,
                              body: Mapping[str, object]) -> JSON:
    """``POST /api/cards/broadcast`` ``{"text", "target"}`` (target: ``all-staff``, the
    default, or a group's name)."""
    return await send_broadcast(ctx, actor=actor, text=text_field(body, "text"),
                                target=text_field(body, "target") or ALL_STAFF_TARGET)


async def send_broadcast(ctx: AppContext, *, actor: Principal, text: str,
                         target: str = ALL_STAFF_TARGET) -> JSON:
    """Send an urgent broadcast; returns the message. Raises BroadcastOnly (the actor's
    role; the refusal is audited), BadRequest (the text), UnknownBroadcastGroup."""
    if not may_broadcast(actor.role):
        await audit(ctx, AuditAction.BROADCAST_SENT, outcome="refused",
                    actor_user_id=actor.user_id, session_id=actor.session_id,
                    reason="role")
        raise BroadcastOnly()
    try:
        cleaned = clean_text(text)
    except BroadcastRuleError as error:
        raise BadRequest(str(error)) from None
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        channel, label = await _target_channel(uow, target)
        members = set(await uow.channels.member_ids(channel.id))
        if actor.user_id not in members:
            # The sender follows the confirmations (the readers list is for members).
            join(ctx, uow, channel, actor.user_id, source=GROUP_SOURCE, now=now,
                 actor_user_id=actor.user_id)
        disaster = await uow.disasters.active()
        sender = await uow.users.get(actor.user_id)
        card = BroadcastCard(text=cleaned, target=label,
                             sender_name=sender.name if sender else actor.name,
                             sent_at=now, drill=bool(disaster and disaster.drill))
        message = await _post(ctx, uow, channel.id, card, actor.user_id)
        plan = repeat_plan(ctx)
        uow.broadcasts.add(Broadcast(
            message_id=message.id, channel_id=channel.id, target=label,
            sent_by=actor.user_id, sent_at=now,
            repeat_every_seconds=int(plan.every.total_seconds()),
            max_repeats=plan.max_repeats, repeats_done=0, next_repeat_at=plan.first(now)))
        recipients = len(members - {actor.user_id})
        audit_within(ctx, uow, AuditAction.BROADCAST_SENT, actor_user_id=actor.user_id,
                     session_id=actor.session_id, message_id=message.id,
                     channel_id=channel.id, target=label, recipients=recipients,
                     drill=card.drill)
        push_broadcast(ctx, uow, channel_id=channel.id, sender_id=actor.user_id,
                       note=broadcast_note(channel_id=channel.id, message_id=message.id,
                                           body=card.body(), sender_name=card.sender_name))
        return await wire_message(uow, message)


async def _target_channel(uow: UnitOfWork, target: str) -> tuple[Channel, str]:
    if target == ALL_STAFF_TARGET:
        channel = await uow.channels.by_slug(ALL_STAFF_SLUG)
        if channel is None:
            raise UnknownBroadcastGroup("There is no all-staff channel yet")
        return channel, ALL_STAFF_LABEL
    group = await uow.broadcasts.group_named(" ".join(target.split()))
    channel = await uow.channels.get(group.channel_id) if group is not None else None
    if group is None or channel is None:
        raise UnknownBroadcastGroup()
    return channel, group.name


async def _post(ctx: AppContext, uow: UnitOfWork, channel_id: int, card: BroadcastCard,
                sender_id: int) -> Message:
    """The message, written as a person's message is (seq, revision 1, audited with
    the body's digest); the ``message`` frame after commit."""
    return await post_card_message(
        ctx, uow, channel_id=channel_id, kind=MessageKind.BROADCAST, body=card.body(),
        card=card.card(), now=card.sent_at, sender_id=sender_id, actor_user_id=sender_id)


async def unconfirmed_broadcasts(ctx: AppContext, *, actor: Principal) -> JSON:
    """The broadcasts of the last hour the actor has not confirmed: what a phone opens
    full screen when it connects (from the push's notification, say) rather than
    waiting for the next repeat."""
    since = ctx.clock.now() - timedelta(seconds=BROADCAST_TTL_SECONDS)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        found = await uow.broadcasts.unconfirmed_for(actor.user_id, since=since)
        messages = await wire_messages(uow, found)
    await audit_privileged_read(ctx, actor, "broadcasts", messages)
    return {"messages": messages}


# --- repeats ------------------------------------------------------------------------------

async def repeat_due_broadcasts(ctx: AppContext) -> int:
    """Send every due repeat (the periodic job of every node): to those of the channel
    who have not confirmed, a ``broadcast.repeated`` frame on their connections and the
    urgent push again. Returns how many repeats this node sent. A broadcast everyone
    confirmed ends without one."""
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        due = [(b.message_id, b.repeats_done) for b in await uow.broadcasts.due(now)]
    sent = 0
    for message_id, seen_done in due:
        sent += await _repeat(ctx, message_id, seen_done)
    return sent


async def _repeat(ctx: AppContext, message_id: int, seen_done: int) -> int:
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        row = await uow.broadcasts.get(message_id)
        message = await uow.messages.get(message_id)
        if row is None:
            return 0
        if message is None or message.deleted_at is not None:
            await uow.broadcasts.end(message_id, at=now)
            return 0
        waiting = await unconfirmed(uow, message)
        if not waiting:
            await uow.broadcasts.end(message_id, at=now)
            return 0
        plan = RepeatPlan(every=timedelta(seconds=row.repeat_every_seconds),
                          max_repeats=row.max_repeats)
        repeat = seen_done + 1
        if not await uow.broadcasts.claim_repeat(message_id, seen_done=seen_done, now=now,
                                                 next_at=plan.after(repeat, now)):
            return 0      # another node sent this one
        payload = await wire_message(uow, message)
        frame = encode({"type": "broadcast.repeated", "channel_id": message.channel_id,
                        "message_id": message.id, "repeat": repeat, "message": payload})

        async def publish() -> None:
            for user_id in waiting:
                await ctx.bus.publish(user_topic(user_id), frame)
        uow.on_commit(publish)
        card = json.loads(message.data or "{}")
        push_broadcast(ctx, uow, channel_id=message.channel_id, sender_id=message.sender_id,
                       only=waiting, note=broadcast_note(
                           channel_id=message.channel_id, message_id=message.id,
                           body=message.body, sender_name=str(card.get("sender", "")),
                           repeat=repeat))
        audit_within(ctx, uow, AuditAction.BROADCAST_REPEATED, message_id=message.id,
                     channel_id=message.channel_id, repeat=repeat, recipients=len(waiting))
    return 1


async def unconfirmed(uow: UnitOfWork, message: Message) -> list[int]:
    """The channel's members, the sender aside, who have not confirmed ``message``."""
    members = set(await uow.channels.member_ids(message.channel_id))
    confirmed = set(await uow.reactions.confirmations(message.id))
    return sorted(members - confirmed - {message.sender_id or 0})


# --- building/floor groups ------------------------------------------------------------------

@dataclass(frozen=True)
class GroupSet:
    name: str
    channel_id: int
    members: int
    joined: int
    left: int


async def set_broadcast_group(ctx: AppContext, name: str, *, staff_numbers: Sequence[str],
                              department_codes: Sequence[str], by: str,
                              actor_user_id: int | None = None) -> GroupSet:
    """Make or change a building/floor group: its members are the active people with
    the given staff numbers and everyone active in the given departments (codes as in
    the org chart). Its channel gains and loses members to match. Raises BadRequest
    (the name, an unknown staff number or department)."""
    try:
        cleaned = clean_group_name(name)
    except BroadcastRuleError as error:
        raise BadRequest(str(error)) from None
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        wanted = await _group_people(uow, staff_numbers, department_codes)
        group = await uow.broadcasts.group_named(cleaned)
        if group is None:
            channel = Channel(kind=ChannelKind.ANNOUNCEMENT, name=group_channel_name(cleaned),
                              last_seq=0, last_version=0, created_at=now, created_by=None)
            uow.channels.add(channel)
            await uow.flush()
            group = BroadcastGroup(name=cleaned, channel_id=channel.id, updated_at=now,
                                   updated_by=by)
            uow.broadcasts.add_group(group)
        else:
            found = await uow.channels.get(group.channel_id)
            assert found is not None   # the group goes with its channel (cascade)
            channel = found
            group.updated_at, group.updated_by = now, by
        present = set(await uow.channels.member_ids(channel.id))
        for user_id in sorted(wanted - present):
            join(ctx, uow, channel, user_id, source=GROUP_SOURCE, now=now,
                 actor_user_id=actor_user_id, by=by)
        for user_id in sorted(present - wanted):
            await leave(ctx, uow, channel.id, user_id, actor_user_id=actor_user_id, by=by)
        audit_within(ctx, uow, AuditAction.BROADCAST_GROUP_SET, actor_user_id=actor_user_id,
                     by=by, name=cleaned, channel_id=channel.id, members=len(wanted),
                     staff_numbers=sorted(staff_numbers),
                     departments=sorted(department_codes))
        return GroupSet(cleaned, channel.id, len(wanted), len(wanted - present),
                        len(present - wanted))


async def _group_people(uow: UnitOfWork, staff_numbers: Sequence[str],
                        department_codes: Sequence[str]) -> set[int]:
    numbers = sorted({n.strip() for n in staff_numbers if n.strip()})
    people = {u.staff_number: u.id for u in await uow.users.active_by_staff_numbers(numbers)}
    unknown = [n for n in numbers if n not in people]
    if unknown:
        raise BadRequest(f"unknown staff numbers: {', '.join(unknown)}")
    wanted = set(people.values())
    for code in sorted({c.strip() for c in department_codes if c.strip()}):
        department = await uow.departments.by_code(code)
        if department is None:
            raise BadRequest(f"unknown department: {code}")
        wanted |= {u.id for u, _ in await uow.users.listing(
            department_ids={department.id}, role=None, active=True, query="", limit=10_000)}
    if not wanted:
        raise BadRequest("A group needs at least one person")
    return wanted


async def broadcast_targets(ctx: AppContext, *, actor: Principal) -> JSON:
    """What the phone's broadcast form offers: everyone, then each group by name."""
    if not may_broadcast(actor.role):
        raise BroadcastOnly()
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        groups = [(g.name, len(await uow.channels.member_ids(g.channel_id)))
                  for g in await uow.broadcasts.groups()]
    return {"targets": [{"target": ALL_STAFF_TARGET, "label": ALL_STAFF_LABEL},
                        *({"target": n, "label": n, "members": c} for n, c in groups)]}
