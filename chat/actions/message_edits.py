"""Editing and deleting one's own message: a new revision at the channel's next version,
audited with the text's digest, ``message.updated`` after commit."""

from __future__ import annotations

from chat.actions.messages import clean_body, member_channel
from chat.actions.wire import wire_message
from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import channel_topic
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.auditchain import body_digest
from chat.errors import (
    MessageDeleted,
    MessageNotFound,
    MessagePurged,
    NotTheAuthor,
)
from chat.frames import encode
from chat.store.models import MessageRevision
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON


async def edit_message(ctx: AppContext, *, actor: Principal, message_id: int,
                       body: str) -> JSON:
    """Replace the text; the earlier text stays as a revision."""
    body = clean_body(ctx, body)
    return await _revise(ctx, actor=actor, message_id=message_id, action="edit", body=body)


async def delete_message(ctx: AppContext, *, actor: Principal, message_id: int) -> JSON:
    """Hide the message from the conversation; every earlier text stays as a revision."""
    return await _revise(ctx, actor=actor, message_id=message_id, action="delete", body="")


async def _revise(ctx: AppContext, *, actor: Principal, message_id: int, action: str,
                  body: str) -> JSON:
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
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
        audit_within(ctx, uow, (AuditAction.MESSAGE_EDITED if action == "edit"
                                else AuditAction.MESSAGE_DELETED),
                     actor_user_id=actor.user_id, session_id=actor.session_id,
                     message_id=message.id, channel_id=message.channel_id,
                     revision=message.revision, body_sha256=body_digest(body))
        await uow.flush()
        payload = await wire_message(uow, message)
        frame = encode({"type": "message.updated", "message": payload})
        channel_id = message.channel_id
        uow.on_commit(lambda: ctx.bus.publish(channel_topic(channel_id), frame))
    return payload
