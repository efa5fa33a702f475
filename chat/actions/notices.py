"""System notices (missed calls, phone memos): posting them, collapsing repeats, and the
claim-and-done flow.

A notice is a message with ``sender_id`` NULL and a card kind of its own whose card keeps
a ``notices`` row (``Stored.NOTICE`` in chat.domain.cards: ``call.missed``, ``memo``);
clients show it as from 「電話」. It is written exactly like a person's message
(seq, revision 1, ``message.created`` in the audit log with the body's digest) so
``tsunagu audit verify`` covers it. Its follow-up state lives in the ``notices`` row;
claiming and finishing lock the message row and update the notice conditionally, so of
two members tapping at once exactly one wins and the other gets ``already_claimed``.
Every change goes to the channel as ``message.updated`` (a new ``version``, the card in
``data``); only a change of text (a collapsed repeat) makes a new revision.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from chat.actions.card_messages import post_card_message
from chat.actions.channels import join
from chat.actions.message_reads import audit_privileged_read
from chat.actions.messages import member_channel
from chat.actions.push import push_notice
from chat.actions.wire import wire_message
from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import channel_topic
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.auditchain import body_digest
from chat.domain.cards import CardAction, card_of, find_card
from chat.domain.kinds import MessageKind
from chat.domain.notices import SYSTEM_SENDER_NAME, FollowUp, NoticeState, Person
from chat.domain.roles import ChannelKind
from chat.errors import AlreadyClaimed, AlreadyDone, NoticeNotFound
from chat.frames import encode
from chat.store.models import Channel, Message, MessageRevision, Notice, User
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

PHONE_CHANNEL_PREFIX = "phone:"


async def phone_channel(ctx: AppContext, uow: UnitOfWork, user: User,
                        now: datetime) -> Channel:
    """The person's 「電話」 channel, where their missed calls and memos arrive: a direct
    channel with one member (the system is the other side), created on first use."""
    key = f"{PHONE_CHANNEL_PREFIX}{user.id}"
    channel = await uow.channels.by_direct_key(key)
    if channel is not None:
        return channel
    channel = Channel(kind=ChannelKind.DIRECT, name=SYSTEM_SENDER_NAME, direct_key=key,
                      last_seq=0, last_version=0, created_at=now, created_by=None)
    try:
        # A savepoint: a missed call and a memo creating it at once on PostgreSQL; the
        # loser's insert waits for the winner's commit, fails, and reads its channel.
        async with uow.session.begin_nested():
            uow.channels.add(channel)
            await uow.flush()
    except IntegrityError:
        existing = await uow.channels.by_direct_key(key)
        if existing is None:
            raise
        return existing
    # "system": neither the org chart nor a person chose it; a reshuffle leaves it alone.
    join(ctx, uow, channel, user.id, source="system", now=now)
    return channel


async def post_notice(ctx: AppContext, uow: UnitOfWork, *, channel_id: int,
                      kind: MessageKind, body: str, card: dict[str, Any], now: datetime,
                      caller_number: str | None, target_key: str | None,
                      actor_user_id: int | None) -> tuple[Message, Notice]:
    """Post a new notice of ``kind`` into ``channel_id`` (as ``_store_new_message`` does
    a person's message) with its follow-up row; the ``message`` frame goes out after
    commit. Raises ValueError for a kind whose card keeps no ``notices`` row."""
    if not card_of(kind).has_follow_up:
        raise ValueError(f"{kind!r} is not a notice kind")
    message = await post_card_message(ctx, uow, channel_id=channel_id, kind=kind, body=body,
                                      card=card, now=now, actor_user_id=actor_user_id)
    notice = Notice(message_id=message.id, channel_id=channel_id, kind=kind.value,
                    caller_number=caller_number, target_key=target_key, count=1,
                    first_at=now, last_at=now, state=NoticeState.OPEN.value)
    uow.notices.add_notice(notice)
    push_notice(ctx, uow, channel_id=channel_id, kind=kind, message_id=message.id,
                body=body)
    return message, notice


async def revise_notice(ctx: AppContext, uow: UnitOfWork, message: Message, *,
                        card: dict[str, Any], now: datetime, body: str | None = None) -> None:
    """Give a notice a new card (and, when ``body`` differs, a new text revision, audited
    like an edit) at the channel's next version; ``message.updated`` after commit.
    The caller holds the message row lock."""
    message.version = await uow.channels.allocate_version(message.channel_id)
    if body is not None and body != message.body:
        message.revision += 1
        message.body = body
        message.edited_at = now
        uow.messages.add_revision(MessageRevision(
            message_id=message.id, revision=message.revision, action="edit", body=body,
            actor_id=None, created_at=now))
        audit_within(ctx, uow, AuditAction.MESSAGE_EDITED, message_id=message.id,
                     channel_id=message.channel_id, revision=message.revision,
                     body_sha256=body_digest(body))
    message.data = json.dumps(card, ensure_ascii=False)
    frame = encode({"type": "message.updated", "message": await wire_message(uow, message)})
    channel_id = message.channel_id
    uow.on_commit(lambda: ctx.bus.publish(channel_topic(channel_id), frame))


async def follow_up_of(uow: UnitOfWork, notice: Notice) -> FollowUp:
    people = {u.id: Person(u.id, u.name) for u in await uow.users.many(
        [i for i in (notice.claimed_by, notice.done_by) if i is not None])}
    return FollowUp(state=NoticeState(notice.state),
                    claimed_by=people.get(notice.claimed_by or -1),
                    claimed_at=notice.claimed_at,
                    done_by=people.get(notice.done_by or -1), done_at=notice.done_at)


async def claim_notice(ctx: AppContext, *, actor: Principal, message_id: int) -> JSON:
    """Take the callback: everyone in the channel sees who did. Claiming again what you
    already claimed returns the notice unchanged. Raises NoticeNotFound, NotAMember,
    AlreadyClaimed (someone else holds it) or AlreadyDone."""
    return await _take(ctx, actor=actor, message_id=message_id, action=CardAction.CLAIM)


async def finish_notice(ctx: AppContext, *, actor: Principal, message_id: int) -> JSON:
    """Mark the callback done ("done"): allowed while the notice is open (it is then
    yours) or claimed by you. Finishing twice returns it unchanged. Raises
    NoticeNotFound, NotAMember, AlreadyClaimed or AlreadyDone."""
    return await _take(ctx, actor=actor, message_id=message_id, action=CardAction.DONE)


async def _take(ctx: AppContext, *, actor: Principal, message_id: int,
                action: CardAction) -> JSON:
    message = await _change(ctx, actor=actor, message_id=message_id, action=action)
    await audit_privileged_read(ctx, actor, "notice", [message])
    return message


async def _change(ctx: AppContext, *, actor: Principal, message_id: int,
                  action: CardAction) -> JSON:
    finish = action is CardAction.DONE
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        # The message row lock serialises every claim and finish of this notice (SQLite
        # serialises writers anyway); the conditional update below is the rule itself.
        message = await uow.messages.get(message_id, for_update=True)
        card = find_card(message.kind) if message is not None else None
        if message is None or card is None or not card.may(action):
            raise NoticeNotFound()
        # Who may act on a card: the members of its channel.
        await member_channel(uow, message.channel_id, actor.user_id)
        notice = await uow.notices.notice_of_message(message_id)
        if notice is None or message.deleted_at is not None:
            raise NoticeNotFound()
        if not await uow.notices.take_notice(notice.id, user_id=actor.user_id, now=now,
                                             finish=finish):
            _refusal(notice, actor.user_id, finish=finish, holder=await _holder(uow, notice))
            # Already in the state asked for: idempotent.
            return await wire_message(uow, message)
        await uow.session.refresh(notice)
        card = json.loads(message.data or "{}")
        card.update((await follow_up_of(uow, notice)).card())
        await revise_notice(ctx, uow, message, card=card, now=now)
        audit_within(ctx, uow, AuditAction.NOTICE_DONE if finish else AuditAction.NOTICE_CLAIMED,
                     actor_user_id=actor.user_id, session_id=actor.session_id,
                     message_id=message.id, channel_id=message.channel_id)
        return await wire_message(uow, message)


async def _holder(uow: UnitOfWork, notice: Notice) -> str:
    holder_id = notice.done_by if notice.state == NoticeState.DONE else notice.claimed_by
    holder = await uow.users.get(holder_id) if holder_id is not None else None
    return holder.name if holder else "someone"


def _refusal(notice: Notice, user_id: int, *, finish: bool, holder: str) -> None:
    """Raise why the notice could not be taken, or return when it already is in the
    state ``user_id`` asked for."""
    if notice.state == NoticeState.DONE:
        if finish and notice.done_by == user_id:
            return
        raise AlreadyDone(f"This notice was already done by {holder}")
    if notice.state == NoticeState.CLAIMED and notice.claimed_by == user_id and not finish:
        return
    raise AlreadyClaimed(f"{holder} already took this callback")
