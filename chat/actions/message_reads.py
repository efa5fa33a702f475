"""Reading messages: resync after a gap, a channel's history, one's own earlier versions,
and the 既読 counts a page carries; and :func:`audit_privileged_read`, which every path
that hands message content to a person calls (docs/audit.md, Privileged reads)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from chat.actions.messages import member_channel
from chat.actions.wire import wire_messages
from chat.audit.record import Detail, audit_or_fail
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.dates import wire_time
from chat.domain.roles import PRIVILEGED_READERS
from chat.errors import (
    MessageNotFound,
    NotTheAuthor,
    SeqOutOfRange,
)
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON


async def audit_privileged_read(ctx: AppContext, actor: Principal, via: str,
                                messages: Sequence[JSON], **detail: Detail) -> None:
    """Record, before the caller returns them, the messages ``actor`` reads *by role*.

    Every path that returns message content calls this with what it is about to return
    (``id`` and ``channel_id`` of each). The rule (docs/audit.md, Privileged reads): a
    read is privileged when an admin or auditor reads a message of a channel they are
    not a member of, which only their role allows (the HQ board for admins, say). Those
    are logged as ``messages.read`` (ids and channels, never text); if the log cannot be
    written the read fails. A member reading their own channel is not logged, whatever
    their role: any member could read it, and what channels they are in is in the
    membership events. Membership is looked up here, not trusted from the caller, so a
    path that later gains a role bypass is audited without anyone remembering to."""
    if actor.role not in PRIVILEGED_READERS or not messages:
        return
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        mine = set(await uow.channels.channel_ids_of(actor.user_id))
    by_role = [m for m in messages if int(m["channel_id"]) not in mine]
    if not by_role:
        return
    await audit_or_fail(ctx, AuditAction.MESSAGES_READ, actor_user_id=actor.user_id,
                        session_id=actor.session_id, device_id=actor.device_id, via=via,
                        message_ids=sorted({int(m["id"]) for m in by_role}),
                        channel_ids=sorted({int(m["channel_id"]) for m in by_role}),
                        **detail)


async def resync(ctx: AppContext, *, actor: Principal, channel_id: int, after_seq: int,
                 after_version: int | None, limit: int) -> JSON:
    """Everything the client missed in one channel: new messages with ``seq > after_seq``
    (gapless, ascending), and, when ``after_version`` is given, messages at or below
    ``after_seq`` edited or deleted since that version (ascending by version).

    Both lists are paged by ``limit``; ``limited`` says more remain. The client resumes
    with ``after_seq=next_seq`` and ``after_version=next_version``.
    """
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        channel = await member_channel(uow, channel_id, actor.user_id)
        if after_seq < 0 or after_seq > channel.last_seq:
            raise SeqOutOfRange(
                f"after_seq must be between 0 and {channel.last_seq} in this channel")
        if after_version is not None and not 0 <= after_version <= channel.last_version:
            raise SeqOutOfRange(
                f"after_version must be between 0 and {channel.last_version}")
        rows, next_seq, limited = await uow.messages.after_seq(
            channel_id, after_seq, limit=limit)
        updated: list[JSON] = []
        next_version = channel.last_version
        if after_version is not None:
            changed, more = await uow.messages.changed_since(
                channel_id, after_version, up_to_seq=after_seq, limit=limit)
            updated = await wire_messages(uow, changed)
            if more:
                # Resume the edits from here; new messages page separately by next_seq.
                next_version = changed[-1].version
                limited = True
        messages = await wire_messages(uow, rows)
    if messages or updated:
        await audit_privileged_read(ctx, actor, "resync", messages + updated)
    return {
        "type": "resync.result", "channel_id": channel_id,
        "messages": messages, "updated": updated,
        "next_seq": next_seq, "next_version": next_version,
        "last_seq": channel.last_seq,
        "last_version": channel.last_version, "limited": limited,
    }


def read_counts(messages: list[JSON], positions: dict[int, int]) -> list[int]:
    """既読 count of each message: members other than the sender who have read it."""
    ordered = sorted(positions.values())
    counts = []
    for m in messages:
        readers = len(ordered) - bisect_left(ordered, m["seq"])
        sender_pos = positions.get(m["sender_id"]) if m["sender_id"] is not None else None
        if sender_pos is not None and sender_pos >= m["seq"]:
            readers -= 1
        counts.append(readers)
    return counts


async def history(ctx: AppContext, *, actor: Principal, channel_id: int,
                  before_seq: int | None, limit: int) -> JSON:
    """A page of the newest messages below ``before_seq`` with their 既読 counts."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        channel = await member_channel(uow, channel_id, actor.user_id)
        rows, has_more = await uow.messages.before_seq(channel_id, before_seq, limit=limit)
        positions = await uow.channels.read_positions(channel_id)
        messages = await wire_messages(uow, rows)
    if messages:
        await audit_privileged_read(ctx, actor, "history", messages)
    for message, count in zip(messages, read_counts(messages, positions), strict=True):
        message["read_count"] = count
    return {
        "channel_id": channel_id, "messages": messages, "has_more": has_more,
        "last_seq": channel.last_seq, "last_version": channel.last_version,
        "member_count": len(positions),
        "read_positions": {str(u): s for u, s in positions.items()},
    }


async def revisions(ctx: AppContext, *, actor: Principal, message_id: int) -> list[JSON]:
    """The history of the actor's own message (auditors get theirs with the audit trail)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        message = await uow.messages.get(message_id)
        if message is None:
            raise MessageNotFound()
        await member_channel(uow, message.channel_id, actor.user_id)
        if message.sender_id != actor.user_id:
            raise NotTheAuthor("Only the author may see earlier versions")
        items = [{"revision": r.revision, "action": r.action, "body": r.body,
                  "created_at": wire_time(r.created_at)}
                 for r in await uow.messages.revisions(message_id)]
    await audit_privileged_read(ctx, actor, "revisions",
                                [{"id": message_id, "channel_id": message.channel_id}])
    return items
