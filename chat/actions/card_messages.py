"""Writing a card's message: the one step every card kind shares.

A card is written exactly as a person's message is (``chat.actions.messages``): the
channel's next seq in the same transaction, revision 1, ``message.created`` in the audit
log with the text's digest (so ``tsunagu audit verify`` covers it), and the ``message``
frame after commit. What a kind keeps beside it (a ``notices`` row, a report's row, a roll
call) its own action writes in the same unit of work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chat.audit.record import audit_within
from chat.bus.topics import channel_topic
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.auditchain import body_digest
from chat.domain.kinds import MessageKind
from chat.frames import encode, message_json
from chat.store.models import Message, MessageRevision
from chat.store.uow import UnitOfWork


async def post_card_message(ctx: AppContext, uow: UnitOfWork, *, channel_id: int,
                            kind: MessageKind, body: str, card: Mapping[str, Any],
                            now: datetime, sender_id: int | None = None,
                            client_id: str | None = None, actor_user_id: int | None = None,
                            session_id: int | None = None) -> Message:
    """Write a message of ``kind`` with ``card`` as its data into ``channel_id``.
    ``sender_id`` None is the system (「電話」); ``actor_user_id`` is whoever caused it
    (the audit entry's actor and the revision's). The caller checks who may post."""
    seq, version = await uow.channels.allocate_seq(channel_id)
    message = Message(channel_id=channel_id, seq=seq, version=version, sender_id=sender_id,
                      client_id=client_id, kind=kind.value, body=body, revision=1,
                      created_at=now, data=json.dumps(card, ensure_ascii=False))
    await uow.messages.insert(message)
    uow.messages.add_revision(MessageRevision(
        message_id=message.id, revision=1, action="create", body=body,
        actor_id=actor_user_id, created_at=now))
    audit_within(ctx, uow, AuditAction.MESSAGE_CREATED, actor_user_id=actor_user_id,
                 session_id=session_id, message_id=message.id, channel_id=channel_id,
                 revision=1, body_sha256=body_digest(body), sender_id=sender_id)
    frame = encode({"type": "message", "message": message_json(message)})

    async def stored() -> None:
        ctx.metrics.messages_stored.inc()

    uow.on_commit(stored)
    uow.on_commit(lambda: ctx.bus.publish(channel_topic(channel_id), frame))
    return message
