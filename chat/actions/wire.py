"""Messages as clients see them: each row with what it shows beyond itself (the quoted
message, stamps, the photo), loaded in a fixed number of queries per page."""

from __future__ import annotations

from collections.abc import Sequence

from chat.domain.cards import Stored, kinds_with
from chat.domain.messages import MessageExtras, Quote, excerpt
from chat.domain.stamps import group_reactions
from chat.frames import attachment_json, message_json
from chat.store.models import Message
from chat.store.uow import UnitOfWork
from chat.types import JSON


def quote_of(quoted: Message | None) -> Quote | None:
    if quoted is None:
        return None
    return Quote(quoted.id, quoted.sender_id, excerpt(
        quoted.body, gone=bool(quoted.deleted_at or quoted.purged_at)))


async def wire_messages(uow: UnitOfWork, messages: Sequence[Message]) -> list[JSON]:
    """Messages on the wire with what they show beyond their rows (the quoted message,
    stamps, the photo): three queries per page, whatever its size."""
    if not messages:
        return []
    quoted = await uow.messages.many([m.reply_to_id for m in messages if m.reply_to_id])
    reactions = await uow.reactions.of_messages([m.id for m in messages])
    # A card's wire form: ``data`` as stored (chat.frames), the photo of a kind whose
    # card keeps one.
    with_photo = kinds_with(Stored.PHOTO)
    photos = await uow.attachments.of_messages([m.id for m in messages if m.kind in with_photo])
    return [message_json(m, MessageExtras(
        reply_to=quote_of(quoted.get(m.reply_to_id)) if m.reply_to_id else None,
        reactions=group_reactions(reactions.get(m.id, [])),
        attachment=attachment_json(photos[m.id]) if m.id in photos else None))
        for m in messages]


async def wire_message(uow: UnitOfWork, message: Message) -> JSON:
    return (await wire_messages(uow, [message]))[0]
