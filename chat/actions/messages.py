"""Sending, editing, deleting and reading back messages."""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from chat.actions.audit import Detail, audit_or_fail, audit_within
from chat.actions.channels import user_topic
from chat.actions.push import push_new_message
from chat.actions.wire import quote_of, wire_message, wire_messages
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.auditchain import body_digest
from chat.domain.messages import MAX_MENTIONS, MessageExtras, mentioned_members
from chat.domain.roles import PRIVILEGED_READERS, may_post
from chat.errors import (
    AttachmentInUse,
    AttachmentNotFound,
    BadRequest,
    ChannelNotFound,
    ChatError,
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
from chat.frames import attachment_json, encode, message_json
from chat.store.models import Attachment, Channel, Message, MessageRevision
from chat.store.uow import UnitOfWork, unit_of_work
from chat.types import JSON

MAX_CLIENT_ID_CHARS = 64


def channel_topic(channel_id: int) -> str:
    return f"channel:{channel_id}"


@dataclass(frozen=True)
class SendOutcome:
    message: JSON
    duplicate: bool


def _clean_body(ctx: AppContext, body: str, *, may_be_empty: bool = False) -> str:
    if not body.strip() and not may_be_empty:
        raise BadRequest("The message is empty")
    if len(body) > ctx.settings.max_message_chars:
        raise MessageTooLong(
            f"The message is longer than {ctx.settings.max_message_chars} characters")
    return body


async def member_channel(uow: UnitOfWork, channel_id: int, user_id: int) -> Channel:
    """The channel, if ``user_id`` is a member; raises ChannelNotFound or NotAMember."""
    channel, member = await uow.channels.with_membership(channel_id, user_id)
    if channel is None:
        raise ChannelNotFound()
    if not member:
        raise NotAMember()
    return channel


async def live_message(uow: UnitOfWork, message_id: int, user_id: int, *,
                       for_update: bool = False) -> tuple[Message, Channel]:
    """A message that still has content, in a channel ``user_id`` belongs to; raises
    MessageNotFound, ChannelNotFound, NotAMember, MessageDeleted or MessagePurged."""
    message = await uow.messages.get(message_id, for_update=for_update)
    if message is None:
        raise MessageNotFound()
    channel = await member_channel(uow, message.channel_id, user_id)
    if message.deleted_at is not None:
        raise MessageDeleted()
    if message.purged_at is not None:
        raise MessagePurged()
    return message, channel


async def send_message(ctx: AppContext, *, actor: Principal, channel_id: int,
                       client_id: str, body: str, reply_to: int | None = None,
                       mentions: Sequence[int] = (),
                       attachment_id: int | None = None) -> SendOutcome:
    """Store a message once per ``(sender, client_id)``.

    A resend with the same client id (after a lost ack) stores nothing and returns the
    original message with ``duplicate=True``; reusing a client id for another channel
    raises ClientIdReused. ``reply_to`` quotes a live message of the same channel;
    ``mentions`` keeps the channel's members among them (others are dropped), who also
    get a ``mention`` frame; ``attachment_id`` (an upload of the sender's, to this
    channel, not yet sent) makes the message a photo, whose text may then be empty.
    """
    body = _clean_body(ctx, body, may_be_empty=attachment_id is not None)
    if not client_id or len(client_id) > MAX_CLIENT_ID_CHARS:
        raise BadRequest(f"client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters")
    if len(mentions) > MAX_MENTIONS:
        raise BadRequest(f"A message may mention at most {MAX_MENTIONS} people")
    try:
        return await _store_new_message(ctx, actor=actor, channel_id=channel_id,
                                        client_id=client_id, body=body, reply_to=reply_to,
                                        mentions=mentions, attachment_id=attachment_id)
    except IntegrityError:
        # Two connections raced with the same client id: the other one stored it.
        async with unit_of_work(ctx.db, write=False) as uow:
            existing = await uow.messages.by_client_id(actor.user_id, client_id)
            if existing is None:
                raise
            return await _duplicate(uow, existing, channel_id)


async def _duplicate(uow: UnitOfWork, existing: Message, channel_id: int) -> SendOutcome:
    if existing.channel_id != channel_id:
        raise ClientIdReused()
    return SendOutcome(await wire_message(uow, existing), duplicate=True)


async def _quoted_message(uow: UnitOfWork, reply_to: int, channel_id: int) -> Message:
    quoted = await uow.messages.get(reply_to)
    if quoted is None or quoted.channel_id != channel_id:
        raise MessageNotFound("reply_to must be a message of the same channel")
    if quoted.deleted_at is not None:
        raise MessageDeleted("The message you reply to was deleted")
    if quoted.purged_at is not None:
        raise MessagePurged("The message you reply to was purged")
    return quoted


async def _unsent_upload(uow: UnitOfWork, attachment_id: int, *, actor: Principal,
                         channel_id: int) -> Attachment:
    attachment = await uow.attachments.get(attachment_id, for_update=True)
    if attachment is None or attachment.uploader_id != actor.user_id \
            or attachment.channel_id != channel_id:
        raise AttachmentNotFound("No such upload of yours in this channel")
    if attachment.message_id is not None:
        raise AttachmentInUse()
    return attachment


async def _check_new_message(uow: UnitOfWork, *, actor: Principal, channel_id: int,
                             reply_to: int | None, attachment_id: int | None
                             ) -> tuple[Channel, Message | None, Attachment | None]:
    """May the actor post this here: the channel, the quoted message, the upload."""
    channel = await member_channel(uow, channel_id, actor.user_id)
    if not may_post(actor.role, channel.kind):
        raise ReadOnlyChannel()
    quoted = await _quoted_message(uow, reply_to, channel_id) if reply_to else None
    photo = (await _unsent_upload(uow, attachment_id, actor=actor, channel_id=channel_id)
             if attachment_id is not None else None)
    return channel, quoted, photo


async def _store_new_message(ctx: AppContext, *, actor: Principal, channel_id: int,
                             client_id: str, body: str, reply_to: int | None,
                             mentions: Sequence[int],
                             attachment_id: int | None) -> SendOutcome:
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=True) as uow:
        # A resend (same client id) is rare: it is found by the unique constraint when
        # the insert fails (send_message), not by a query before every send — or here,
        # when what was fine at the first send is refused now (the person left, the
        # quoted message was deleted, the photo is attached already).
        try:
            channel, quoted, photo = await _check_new_message(
                uow, actor=actor, channel_id=channel_id, reply_to=reply_to,
                attachment_id=attachment_id)
        except ChatError:
            existing = await uow.messages.by_client_id(actor.user_id, client_id)
            if existing is not None:
                return await _duplicate(uow, existing, channel_id)
            raise
        mentioned = mentioned_members(
            mentions, await uow.channels.member_ids(channel_id),
            sender_id=actor.user_id) if mentions else []
        seq, version = await uow.channels.allocate_seq(channel_id)
        message = Message(channel_id=channel_id, seq=seq, version=version,
                          sender_id=actor.user_id, client_id=client_id,
                          kind="photo" if photo else "text", body=body, revision=1,
                          created_at=now, reply_to_id=quoted.id if quoted else None,
                          mentions=json.dumps(mentioned) if mentioned else None)
        uow.messages.add(message)
        await uow.flush()
        if photo is not None:
            photo.message_id = message.id
        uow.messages.add_revision(MessageRevision(
            message_id=message.id, revision=1, action="create", body=body,
            actor_id=actor.user_id, created_at=now))
        if photo is None:
            audit_within(ctx, uow, "message.created", actor_user_id=actor.user_id,
                         session_id=actor.session_id, message_id=message.id,
                         channel_id=channel_id, revision=1, body_sha256=body_digest(body))
        else:
            # The photo's digest beside the text's, so the stored image can be checked.
            audit_within(ctx, uow, "message.created", actor_user_id=actor.user_id,
                         session_id=actor.session_id, message_id=message.id,
                         channel_id=channel_id, revision=1, body_sha256=body_digest(body),
                         attachment_sha256=photo.sha256)
        # Writing a message means having read the channel up to it.
        await uow.channels.advance_read(channel_id, actor.user_id, seq)
        payload = message_json(message, MessageExtras(
            reply_to=quote_of(quoted), attachment=attachment_json(photo) if photo else None))
        frame = encode({"type": "message", "message": payload})
        uow.on_commit(lambda: ctx.bus.publish(channel_topic(channel_id), frame))
        if mentioned:
            # One encoding for every mentioned member's own topic (all their devices).
            mention = encode({"type": "mention", "message": payload})

            async def tell_mentioned() -> None:
                for user_id in mentioned:
                    await ctx.bus.publish(user_topic(user_id), mention)

            uow.on_commit(tell_mentioned)
        push_new_message(ctx, uow, channel_id=channel_id, channel_kind=channel.kind,
                         channel_name=channel.name, message_id=message.id,
                         sender_id=actor.user_id, sender_name=actor.name, body=body,
                         has_photo=photo is not None, mentioned=mentioned)
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
            # The current row keeps no text; the revisions keep all of it. A deleted
            # message is no longer pinned.
            message.body = ""
            message.deleted_at = now
            message.pinned_at = message.pinned_by = None
        uow.messages.add_revision(MessageRevision(
            message_id=message.id, revision=message.revision, action=action, body=body,
            actor_id=actor.user_id, created_at=now))
        audit_within(ctx, uow, "message.edited" if action == "edit" else "message.deleted",
                     actor_user_id=actor.user_id, session_id=actor.session_id,
                     message_id=message.id, channel_id=message.channel_id,
                     revision=message.revision, body_sha256=body_digest(body))
        await uow.flush()
        payload = await wire_message(uow, message)
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
            updated = await wire_messages(uow, changed)
            if more:
                # Resume the edits from here; new messages page separately by next_seq.
                next_version = changed[-1].version
                limited = True
        messages = await wire_messages(uow, rows)
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
        messages = await wire_messages(uow, rows)
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
        wired = await wire_messages(uow, [m for m, _ in hits])
    results = [{**w, "channel_name": c.name} for w, (_, c) in zip(wired, hits, strict=True)]
    await audit_privileged_read(ctx, actor, "search", results, query=query,
                                channel_id=channel_id)
    return results
