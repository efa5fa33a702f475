"""Urgent broadcasts (緊急放送), pure: who may send one, what its text may be, when it is
repeated, and the Web Push it goes out as.

A broadcast differs from an announcement (全庁通知) in three ways: it overrides mute
(every member of the target channel is pushed, muted or not), the push is urgent and
stays on screen until touched, and it is repeated every ``repeat_every`` to those who
have not confirmed, at most ``max_repeats`` times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chat.domain.cards.broadcast import BROADCAST_LABEL
from chat.domain.kinds import MessageKind
from chat.domain.push import PushNote, shorten
from chat.domain.roles import BROADCASTERS

MAX_TEXT_CHARS = 500
MAX_GROUP_NAME_CHARS = 40
ALL_STAFF_TARGET = "all-staff"   # the target that means everyone (the all-staff channel)
ALL_STAFF_LABEL = "全職員"
# RFC 8030 §5.2: a broadcast older than an hour is no longer news; a repeat follows.
BROADCAST_TTL_SECONDS = 3600
# What the phone's vibration motor does (navigator.vibrate / Notification.vibrate), in ms.
VIBRATION_PATTERN = (600, 200, 600, 200, 600, 200, 1200)


class BroadcastRuleError(ValueError):
    """A broadcast or group that breaks a rule; the message says which, in English."""


def may_broadcast(role: str) -> bool:
    return role in BROADCASTERS


def clean_text(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise BroadcastRuleError("An urgent broadcast needs a text")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise BroadcastRuleError(f"The text is longer than {MAX_TEXT_CHARS} characters")
    return cleaned


def clean_group_name(name: str) -> str:
    """A building/floor group's name as people read it (e.g. 「本庁舎3階」)."""
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_GROUP_NAME_CHARS:
        raise BroadcastRuleError(
            f"A group name has 1 to {MAX_GROUP_NAME_CHARS} characters")
    if cleaned == ALL_STAFF_TARGET:
        raise BroadcastRuleError(f"{ALL_STAFF_TARGET!r} is the name of everyone")
    return cleaned


def group_channel_name(group_name: str) -> str:
    return f"{BROADCAST_LABEL}：{group_name}"


@dataclass(frozen=True)
class RepeatPlan:
    """When a broadcast is repeated: every ``every`` after it was sent, ``max_repeats``
    times at most (0: never)."""

    every: timedelta
    max_repeats: int

    def first(self, sent_at: datetime) -> datetime | None:
        return sent_at + self.every if self.max_repeats > 0 else None

    def after(self, repeats_done: int, now: datetime) -> datetime | None:
        """The next repeat once ``repeats_done`` have gone out (the last at ``now``);
        None when that was the last. Counted from ``now``, so a node that was down does
        not fire the missed repeats one after the other."""
        return now + self.every if repeats_done < self.max_repeats else None


def broadcast_note(*, channel_id: int, message_id: int, body: str, sender_name: str,
                   repeat: int = 0) -> PushNote:
    """The urgent push: high urgency, a notification that stays until touched, the
    vibration pattern, and a tag of its own (a repeat replaces the earlier one)."""
    again = f"（再通知{repeat}回目）" if repeat else ""
    return PushNote(kind=MessageKind.BROADCAST, title=f"{BROADCAST_LABEL}：{sender_name}{again}",
                    body=shorten(body), channel_id=channel_id, message_id=message_id,
                    urgency="high", ttl=BROADCAST_TTL_SECONDS, require_interaction=True,
                    vibrate=VIBRATION_PATTERN, tag=f"broadcast-{message_id}")
