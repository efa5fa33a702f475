"""What a Web Push notification says, and to whom it goes (pure).

The payload is JSON the service worker shows: ``title``, ``body`` (at most
``MAX_BODY_CHARS``), ``channel_id``, ``message_id``, ``url`` (the page to open) and
``kind``. Texts are Japanese: they are shown to staff as they are. What a message of
each kind says is its card's (``chat.domain.cards``: ``push_text``, ``push_label``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chat.domain.cards import card_of
from chat.domain.kinds import MessageKind
from chat.domain.notices import SYSTEM_SENDER_NAME
from chat.domain.roles import ChannelKind

MAX_BODY_CHARS = 120
# RFC 8030 §5.2: how long the push service keeps a message for an offline device.
MESSAGE_TTL_SECONDS = 24 * 3600
NOTICE_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class PushNote:
    kind: str  # message | mention | a system notice's MessageKind
    title: str
    body: str
    channel_id: int
    message_id: int
    urgency: str  # RFC 8030 §5.3: very-low | low | normal | high
    ttl: int
    # What an urgent broadcast adds (in the payload only when set): the notification
    # stays until touched, the vibration pattern in ms, the tag a repeat replaces.
    require_interaction: bool = False
    vibrate: tuple[int, ...] = ()
    tag: str | None = None

    def payload(self) -> str:
        data: dict[str, object] = {
            "title": self.title, "body": self.body,
            "channel_id": self.channel_id, "message_id": self.message_id,
            "url": f"/?channel={self.channel_id}&message={self.message_id}",
            "kind": self.kind}
        if self.require_interaction:
            data["require_interaction"] = True
        if self.vibrate:
            data["vibrate"] = list(self.vibrate)
        if self.tag:
            data["tag"] = self.tag
        return json.dumps(data, ensure_ascii=False)


def shorten(text: str, limit: int = MAX_BODY_CHARS) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def message_notes(*, channel_id: int, channel_kind: str, channel_name: str,
                  message_id: int, sender_name: str, body: str, kind: MessageKind,
                  mentioned: bool) -> PushNote:
    """A person's new message: in a direct chat titled with the sender, elsewhere
    「チャンネル名：送信者」; a mention says so and is urgent. The body is the text as
    the message's card words it (a photo: 「📷 …」). Raises UnknownKind."""
    if channel_kind == ChannelKind.DIRECT:
        title = sender_name
    else:
        title = f"{channel_name}：{sender_name}"
    if mentioned:
        title = f"{title}（あなた宛て）"
    text = card_of(kind).push_text(body.strip())
    return PushNote(kind="mention" if mentioned else "message", title=title,
                    body=shorten(text), channel_id=channel_id, message_id=message_id,
                    urgency="high" if mentioned else "normal", ttl=MESSAGE_TTL_SECONDS)


def notice_note(*, kind: MessageKind, channel_id: int, message_id: int,
                body: str) -> PushNote:
    """A system notice (a missed call, a phone memo…), from 「電話」 and titled with its
    card's label (a card without one: the neutral 「お知らせ」). Raises UnknownKind."""
    label = card_of(kind).push_title_label()
    return PushNote(kind=kind, title=f"{SYSTEM_SENDER_NAME}：{label}", body=shorten(body),
                    channel_id=channel_id, message_id=message_id, urgency="high",
                    ttl=NOTICE_TTL_SECONDS)


def recipients(mute_flags: Mapping[int, bool], *, sender_id: int | None,
               mentioned: Iterable[int] = ()) -> tuple[list[int], list[int]]:
    """``(plain, mentioned)``: the members a new message is pushed to. Everyone but the
    sender whose channel is not muted; a mentioned member even when it is."""
    mentions = {u for u in mentioned if u in mute_flags and u != sender_id}
    plain = sorted(u for u, muted in mute_flags.items()
                   if u != sender_id and not muted and u not in mentions)
    return plain, sorted(mentions)
