"""Sending, editing, deleting and reading back messages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy.exc import IntegrityError

from chat.actions.push import NewMessagePush, push_new_messages
from chat.actions.wire import quote_of, wire_message
from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import channel_topic, user_topic
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.auditchain import body_digest
from chat.domain.kinds import MessageKind
from chat.domain.messages import MAX_MENTIONS, MessageExtras, mentioned_members
from chat.domain.roles import may_post
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
    ReadOnlyChannel,
)
from chat.frames import attachment_json, encode, message_json
from chat.groupcommit import GroupCommit
from chat.store.channels import PostingChannel
from chat.store.messages import SENT_COLUMNS
from chat.store.models import Attachment, Channel, Message
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

MAX_CLIENT_ID_CHARS = 64
# Sends written per transaction at most (chat.groupcommit); a lone send is not delayed.
MAX_SEND_BATCH = 256
SEND_QUEUE = "messages.send"


@dataclass(frozen=True)
class SendOutcome:
    message: JSON
    duplicate: bool


def clean_body(ctx: AppContext, body: str, *, may_be_empty: bool = False) -> str:
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


@dataclass(frozen=True)
class NewMessage:
    """One send, as the group commit queues it (already cleaned)."""

    actor: Principal
    channel_id: int
    client_id: str
    body: str
    reply_to: int | None = None
    mentions: tuple[int, ...] = ()
    attachment_id: int | None = None

    @property
    def key(self) -> tuple[int, str]:
        return self.actor.user_id, self.client_id


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

    Concurrent sends on this node are written together (:func:`_store_batch`, one
    transaction per batch); each is answered, accepted or refused, on its own.
    """
    body = clean_body(ctx, body, may_be_empty=attachment_id is not None)
    if not client_id or len(client_id) > MAX_CLIENT_ID_CHARS:
        raise BadRequest(f"client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters")
    if len(mentions) > MAX_MENTIONS:
        raise BadRequest(f"A message may mention at most {MAX_MENTIONS} people")
    request = NewMessage(actor=actor, channel_id=channel_id, client_id=client_id, body=body,
                         reply_to=reply_to, mentions=tuple(mentions),
                         attachment_id=attachment_id)
    try:
        return await _send_queue(ctx).submit(request)
    except IntegrityError:
        # Another node stored the same client id between our look-up and our insert.
        async with unit_of_work(ctx.db, TxMode.READ) as uow:
            existing = await uow.messages.by_client_id(actor.user_id, client_id)
            if existing is None:
                raise
            return await _duplicate(uow, existing, channel_id)


def _send_queue(ctx: AppContext) -> GroupCommit[NewMessage, SendOutcome]:
    queue = ctx.group_commits.get(SEND_QUEUE)
    if queue is None:
        queue = ctx.group_commits[SEND_QUEUE] = GroupCommit(
            partial(_store_batch, ctx), max_batch=MAX_SEND_BATCH)
    return queue


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


@dataclass(slots=True)
class _NewRow:
    """A new message row as a batch inserts it (no ORM object: hundreds per batch);
    shown on the wire through :class:`chat.frames.MessageFields`."""

    channel_id: int
    seq: int
    version: int
    sender_id: int
    client_id: str
    kind: MessageKind
    body: str
    created_at: datetime
    reply_to_id: int | None
    mentions: str | None
    revision: int = 1
    id: int = 0
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    purged_at: datetime | None = None
    data: str | None = None
    pinned_at: datetime | None = None


@dataclass
class _Accepted:
    """A send that passed its checks, on its way into the batch's INSERTs."""

    index: int
    request: NewMessage
    channel: PostingChannel
    quoted: Message | None
    photo: Attachment | None
    mentioned: list[int]


class _BatchChecks:
    """What a batch of sends looks up once (channels, memberships) and claims as it goes
    (photos), so each send is checked as if it were alone."""

    def __init__(self, uow: UnitOfWork, channels: dict[int, PostingChannel],
                 members: set[tuple[int, int]]) -> None:
        self.uow = uow
        self.channels = channels
        self.members = members
        self.photos: set[int] = set()

    async def accept(self, index: int, request: NewMessage) -> _Accepted:
        """May the actor post this here: the channel, the quoted message, the upload;
        raises the ChatError that refuses it."""
        uow, actor, channel_id = self.uow, request.actor, request.channel_id
        channel = self.channels.get(channel_id)
        if channel is None:
            raise ChannelNotFound()
        if (channel_id, actor.user_id) not in self.members:
            raise NotAMember()
        if not may_post(actor.role, channel.kind):
            raise ReadOnlyChannel()
        quoted = (await _quoted_message(uow, request.reply_to, channel_id)
                  if request.reply_to else None)
        photo = None
        if request.attachment_id is not None:
            if request.attachment_id in self.photos:    # sent earlier in this batch
                raise AttachmentInUse()
            photo = await _unsent_upload(uow, request.attachment_id, actor=actor,
                                         channel_id=channel_id)
            self.photos.add(photo.id)
        mentioned = mentioned_members(
            request.mentions, await uow.channels.member_ids(channel_id),
            sender_id=actor.user_id) if request.mentions else []
        return _Accepted(index, request, channel, quoted, photo, mentioned)


async def _store_batch(ctx: AppContext, requests: Sequence[NewMessage]
                       ) -> list[SendOutcome | Exception]:
    """Write a batch of sends in one transaction: one look-up of resends, one check of
    channels and memberships, one seq allocation per channel, one multi-row INSERT each
    for messages and revisions, one audit seal, one bus round trip after commit.

    Returns, in order, each send's outcome or the ChatError that refused it; raises
    (rolling back everything) only for what no single send explains.
    """
    now = ctx.clock.now()
    results: list[SendOutcome | Exception | None] = [None] * len(requests)
    repeats: list[tuple[int, int]] = []      # (index, index of the same key earlier)
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        # Resends: stored before (the ack was lost), or twice in this batch; and the
        # channels, memberships and push subscribers the others need (one look-up).
        looked = await uow.send_batches.look_up(
            [r.key for r in requests], [(r.channel_id, r.actor.user_id) for r in requests])
        stored = looked.stored
        first_of: dict[tuple[int, str], int] = {}
        fresh: list[int] = []
        for index, request in enumerate(requests):
            if request.key in stored:
                try:
                    results[index] = await _duplicate(uow, stored[request.key],
                                                      request.channel_id)
                except ChatError as refusal:
                    results[index] = refusal
            elif request.key in first_of:
                repeats.append((index, first_of[request.key]))
            else:
                first_of[request.key] = index
                fresh.append(index)
        checks = _BatchChecks(uow, looked.channels, looked.members)
        accepted: list[_Accepted] = []
        for index in fresh:
            try:
                accepted.append(await checks.accept(index, requests[index]))
            except ChatError as refusal:
                results[index] = refusal
        if accepted:
            for index, outcome in await _write_accepted(ctx, uow, accepted, now,
                                                        looked.push_flags):
                results[index] = outcome
    ctx.metrics.messages_stored.inc(len(accepted))  # committed
    for index, first in repeats:
        original = results[first]
        if isinstance(original, SendOutcome):
            results[index] = (SendOutcome(original.message, duplicate=True)
                              if requests[index].channel_id == requests[first].channel_id
                              else ClientIdReused())
        else:
            results[index] = original
    return [result if result is not None else RuntimeError("send left unanswered")
            for result in results]


async def _write_accepted(ctx: AppContext, uow: UnitOfWork, accepted: list[_Accepted],
                          now: datetime, push_flags: dict[int, dict[int, bool]] | None
                          ) -> list[tuple[int, SendOutcome]]:
    messages: list[_NewRow] = []
    for a in accepted:
        request = a.request
        messages.append(_NewRow(
            channel_id=request.channel_id, seq=0, version=0,     # the channel's to give
            sender_id=request.actor.user_id, client_id=request.client_id,
            kind=MessageKind.PHOTO if a.photo else MessageKind.TEXT, body=request.body,
            created_at=now,
            reply_to_id=a.quoted.id if a.quoted else None,
            mentions=json.dumps(a.mentioned) if a.mentioned else None))
    # With their seqs, first revisions, and each sender's read position moved up to them.
    stored = await uow.messages.insert_sent([
        {column: getattr(m, column) for column in SENT_COLUMNS} for m in messages])
    events: list[tuple[str, str]] = []
    pushes: list[NewMessagePush] = []
    outcomes: list[tuple[int, SendOutcome]] = []
    for a, message, (message_id, seq, version) in zip(accepted, messages, stored,
                                                      strict=True):
        actor, channel_id, body = a.request.actor, a.request.channel_id, a.request.body
        message.id, message.seq, message.version = message_id, seq, version
        if a.photo is None:
            audit_within(ctx, uow, AuditAction.MESSAGE_CREATED, actor_user_id=actor.user_id,
                         session_id=actor.session_id, message_id=message_id,
                         channel_id=channel_id, revision=1, body_sha256=body_digest(body),
                         sender_id=actor.user_id)
        else:
            a.photo.message_id = message_id
            # The photo's digest beside the text's, so the stored image can be checked.
            audit_within(ctx, uow, AuditAction.MESSAGE_CREATED, actor_user_id=actor.user_id,
                         session_id=actor.session_id, message_id=message_id,
                         channel_id=channel_id, revision=1, body_sha256=body_digest(body),
                         attachment_sha256=a.photo.sha256, sender_id=actor.user_id)
        payload = message_json(message, MessageExtras(
            reply_to=quote_of(a.quoted),
            attachment=attachment_json(a.photo) if a.photo else None))
        events.append((channel_topic(channel_id),
                       encode({"type": "message", "message": payload})))
        if a.mentioned:
            # One encoding for every mentioned member's own topic (all their devices).
            mention = encode({"type": "mention", "message": payload})
            events += [(user_topic(user_id), mention) for user_id in a.mentioned]
        pushes.append(NewMessagePush(
            channel_id=channel_id, channel_kind=a.channel.kind,
            channel_name=a.channel.name, message_id=message_id, sender_id=actor.user_id,
            sender_name=actor.name, body=body, kind=message.kind,
            mentioned=a.mentioned))
        outcomes.append((a.index, SendOutcome(payload, duplicate=False)))
    uow.on_commit(lambda: ctx.bus.publish_many(events))
    await push_new_messages(ctx, uow, pushes, flags_of=push_flags)
    return outcomes
