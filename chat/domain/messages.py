"""Rules for what a message carries beyond its text (pure): replies, mentions, pins,
and the extras that go on the wire with it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chat.domain.roles import ANNOUNCERS, ChannelKind

MAX_MENTIONS = 50
EXCERPT_CHARS = 80
MAX_PINS = 50


@dataclass(frozen=True)
class Quote:
    """The message a reply quotes, as the reply shows it."""

    id: int
    sender_id: int | None
    excerpt: str


@dataclass(frozen=True)
class MessageExtras:
    """What a message shows beyond its own row: the quoted message, stamps, the photo
    (``attachment`` as the wire shows it). Loaded in one batch per page of messages
    (``MessageRepository.extras_for``)."""

    reply_to: Quote | None = None
    reactions: list[dict[str, Any]] = field(default_factory=list)
    attachment: dict[str, Any] | None = None


def excerpt(body: str, *, gone: bool) -> str:
    """At most ``EXCERPT_CHARS`` characters of a quoted text, on one line; empty when
    the quoted message was deleted or purged."""
    if gone:
        return ""
    line = " ".join(body.split())
    return line if len(line) <= EXCERPT_CHARS else line[:EXCERPT_CHARS - 1] + "…"


def mentioned_members(requested: Iterable[int], members: Iterable[int], *,
                      sender_id: int) -> list[int]:
    """The mentions a message keeps: members of the channel other than the sender, in
    the order given, once each. Anyone else is dropped without an error (a client may
    offer someone who just left)."""
    allowed = set(members) - {sender_id}
    kept: list[int] = []
    for user_id in requested:
        if user_id in allowed and user_id not in kept:
            kept.append(user_id)
    return kept


def may_pin(role: str, channel_kind: str) -> bool:
    """Members pin in their channels; in an announcement channel only announcers do."""
    if channel_kind == ChannelKind.ANNOUNCEMENT:
        return role in ANNOUNCERS
    return True
