"""A person's photo with an optional caption (the message's text): the photo is an
``attachments`` row, on the wire as ``message.attachment`` (chat.actions.wire)."""

from __future__ import annotations

from chat.domain.cards import Card, Sender, Stored, register
from chat.domain.kinds import MessageKind

CAMERA = "📷"


def photo_push_text(caption: str) -> str:
    """「📷 <caption>」, or 「📷 写真を送信しました」 for a photo without one."""
    return f"{CAMERA} {caption}" if caption else f"{CAMERA} 写真を送信しました"


PHOTO = register(Card(kind=MessageKind.PHOTO, sender=Sender.PERSON,
                      stores=frozenset({Stored.PHOTO}), push_text=photo_push_text))
