"""A person's text message: no card, nothing stored beyond the text."""

from __future__ import annotations

from chat.domain.cards import Card, Sender, register
from chat.domain.kinds import MessageKind

TEXT = register(Card(kind=MessageKind.TEXT, sender=Sender.PERSON))
