"""Sending, editing, deleting and reading back messages."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from chat.actions.audit import Detail, audit_or_fail, audit_within
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.auditchain import body_digest
from chat.domain.roles import PRIVILEGED_READERS, may_post
from chat.errors import (
    BadRequest,
    ChannelNotFound,
    ClientIdReused,
    MessageDeleted,
    MessageNotFound,
    MessagePurged,
    MessageTooLong,
    NotAMember,
    NotTheAuthor,
    ReadOnlyChannel,
    SeqOutOfRange,
)
from chat.frames import encode, message_json
from chat.store.models import Channel, Message, MessageRevision
from chat.store.uow import UnitOfWork, unit_of_work
from chat.types import JSON

MAX_CLIENT_ID_CHARS = 64


def channel_topic(channel_id: int) -> str:
    return f"channel:{channel_id}"


@dataclass(frozen=True)
class SendOutcome:
    message: JSON
    duplicate: bool


def _clean_body(ctx: AppContext, body: str) -> str:
    if not body.strip():
        raise BadRequest("The message is empty")
    if len(body) > ctx.settings.max_message_chars:
        raise MessageTooLong(
            f"The message is longer than {ctx.settings.max_message_chars} characters")
    return body


async def member_channel(uow: UnitOfWork, channel_id: int, user_id: int) -> Channel:
    """The channel, if ``user_id`` is a member; raises ChannelNotFound or NotAMember."""
    channel = await uow.channels.get(channel_id)
    if channel is None:
        raise ChannelNotFound()
    if await uow.channels.membership(channel_id, user_id) is None:
        raise NotAMember()
    return channel


async def send_message(ctx: AppContext, *, actor: Principal, channel_id: int,
                       client_id: str, body: str) -> SendOutcome:
    """Store a message once per ``(sender, client_id)``.

    A resend with the same client id (after a lost ack) stores nothing and returns the
    original message with ``duplicate=True``; reusing a client id for another channel
    raises ClientIdReused.
    """
    body = _clean_body(ctx, body)
    if not client_id or len(client_id) > MAX_CLIENT_ID_CHARS:
        raise BadRequest(f"client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters")
    try:
        return await _store_new_message(ctx, actor=actor, channel_id=channel_id,
                                        client_id=client_id, body=body)
    except IntegrityError:
        # Two connections raced with the same client id: the other one stored it.
        async with unit_of_work(ctx.db, write=False) as uow:
            existing = await uow.messages.by_client_id(actor.user_id, client_id)
            if existing is None:
                raise
            return _duplicate(existing, channel_id)


def _duplicate(existing: Message, channel_id: int) -> SendOutcome:
    if existing.channel_id != channel_id:
        raise ClientIdReused()
    return SendOutcome(message_json(existing), duplicate=True)


async def _store_new_message(ctx: AppContext, *, actor: Principal, channel_id: int,
                             client_id: str, body: str) -> SendOutcome:
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=True) as uow:
        existing = await uow.messages.by_client_id(actor.user_id, client_id)
        if existing is not None:
            return _duplicate(existing, channel_id)
        channel = await member_channel(uow, channel_id, actor.user_id)
        if not may_post(actor.role, channel.kind):
            raise ReadOnlyChannel()
        seq, version = await uow.channels.allocate_seq(channel_id)
        message = Message(channel_id=channel_id, seq=seq, version=version,
                          sender_id=actor.user_id, client_id=client_id, kind="text",
                          body=body, revision=1, created_at=now)
        uow.messages.add(message)
        await uow.flush()
        uow.messages.add_revision(MessageRevision(
            message_id=message.id, revision=1, action="create", body=body,
            actor_id=actor.user_id, created_at=now))
        audit_within(ctx, uow, "message.created", actor_user_id=actor.user_id,
                     session_id=actor.session_id, message_id=message.id,
                     channel_id=channel_id, revision=1, body_sha256=body_digest(body))
        # Writing a message means having read the channel up to it.
        await uow.channels.advance_read(channel_id, actor.user_id, seq)
        payload = message_json(message)
        frame = encode({"type": "message", "message": payload})
        uow.on_commit(lambda: ctx.bus.publish(channel_topic(channel_id), frame))
    return SendOutcome(payload, duplicate=False)


async def edit_message(ctx: AppContext, *, actor: Principal, message_id: int,
                       body: str) -> JSON:
    """Replace the text; the earlier text stays as a revision."""
    body = _clean_body(ctx, body)
    return await _revise(ctx, actor=actor, message_id=message_id, action="edit", body=body)


async def delete_message(ctx: AppContext, *, actor: Principal, message_id: int) -> JSON:
    """Hide the message from the conversation; every earlier text stays as a revision."""
    return await _revise(ctx, actor=actor, message_id=message_id, action="delete", body="")


async def _revise(ctx: AppContext, *, actor: Principal, message_id: int, action: str,
                  body: str) -> JSON:
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=True) as uow:
        message = await uow.messages.get(message_id, for_update=True)
        if message is None:
            raise MessageNotFound()
        await member_channel(uow, message.channel_id, actor.user_id)
        if message.sender_id != actor.user_id:
            raise NotTheAuthor()
        if message.deleted_at is not None:
            raise MessageDeleted()
        if message.purged_at is not None:
            raise MessagePurged()
        message.version = await uow.channels.allocate_version(message.channel_id)
        message.revision += 1
        if action == "edit":
            message.body = body
            message.edited_at = now
        else:
            # The current row keeps no text; the revisions keep all of it.
            message.body = ""
            message.deleted_at = now
        uow.messages.add_revision(MessageRevision(
            message_id=message.id, revision=message.revision, action=action, body=body,
            actor_id=actor.user_id, created_at=now))
        audit_within(ctx, uow, "message.edited" if action == "edit" else "message.deleted",
                     actor_user_id=actor.user_id, session_id=actor.session_id,
                     message_id=message.id, channel_id=message.channel_id,
                     revision=message.revision, body_sha256=body_digest(body))
        payload = message_json(message)
        frame = encode({"type": "message.updated", "message": payload})
        channel_id = message.channel_id
        uow.on_commit(lambda: ctx.bus.publish(channel_topic(channel_id), frame))
    return payload


async def audit_privileged_read(ctx: AppContext, actor: Principal, via: str,
                                messages: list[JSON], **detail: Detail) -> None:
    """Log a read by an admin or auditor (ids, never text) before they get the result;
    if the log cannot be written, the read fails."""
    if actor.role not in PRIVILEGED_READERS:
        return
    await audit_or_fail(ctx, "messages.read", actor_user_id=actor.user_id,
                        session_id=actor.session_id, device_id=actor.device_id, via=via,
                        message_ids=[int(m["id"]) for m in messages], **detail)


async def resync(ctx: AppContext, *, actor: Principal, channel_id: int, after_seq: int,
                 after_version: int | None, limit: int) -> JSON:
    """Everything the client missed in one channel: new messages with ``seq > after_seq``
    (gapless, ascending), and, when ``after_version`` is given, messages at or below
    ``after_seq`` edited or deleted since that version (ascending by version).

    Both lists are paged by ``limit``; ``limited`` says more remain. The client resumes
    with ``after_seq=next_seq`` and ``after_version=next_version``.
    """
    async with unit_of_work(ctx.db, write=False) as uow:
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
            updated = [message_json(m) for m in changed]
            if more:
                # Resume the edits from here; new messages page separately by next_seq.
                next_version = changed[-1].version
                limited = True
        messages = [message_json(m) for m in rows]
    if messages or updated:
        await audit_privileged_read(ctx, actor, "resync", messages + updated,
                                    channel_id=channel_id)
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
    async with unit_of_work(ctx.db, write=False) as uow:
        channel = await member_channel(uow, channel_id, actor.user_id)
        rows, has_more = await uow.messages.before_seq(channel_id, before_seq, limit=limit)
        positions = await uow.channels.read_positions(channel_id)
    messages = [message_json(m) for m in rows]
    if messages:
        await audit_privileged_read(ctx, actor, "history", messages, channel_id=channel_id)
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
    async with unit_of_work(ctx.db, write=False) as uow:
        message = await uow.messages.get(message_id)
        if message is None:
            raise MessageNotFound()
        await member_channel(uow, message.channel_id, actor.user_id)
        if message.sender_id != actor.user_id:
            raise NotTheAuthor("Only the author may see earlier versions")
        items = [{"revision": r.revision, "action": r.action, "body": r.body,
                  "created_at": r.created_at.isoformat().replace("+00:00", "Z")}
                 for r in await uow.messages.revisions(message_id)]
    await audit_privileged_read(ctx, actor, "revisions", [{"id": message_id}],
                                channel_id=message.channel_id)
    return items


async def search(ctx: AppContext, *, actor: Principal, query: str, limit: int,
                 channel_id: int | None = None) -> list[JSON]:
    """Substring search over the live messages of the actor's channels, newest first."""
    query = query.strip()
    if not query:
        raise BadRequest("The search query is empty")
    if len(query) > 100:
        raise BadRequest("The search query is longer than 100 characters")
    async with unit_of_work(ctx.db, write=False) as uow:
        hits = await uow.messages.search_visible(actor.user_id, query, limit=limit,
                                                 channel_id=channel_id)
    results = [{**message_json(m), "channel_name": c.name} for m, c in hits]
    await audit_privileged_read(ctx, actor, "search", results, query=query,
                                channel_id=channel_id)
    return results
