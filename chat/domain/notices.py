"""What every system notice shares (a missed call, a phone memo 伝言メモ): the caller,
the people, the follow-up state, Japan time.

A notice is a message of a card kind of its own (``chat/domain/cards/missed_call.py``,
``memo.py``) with no human sender (the client shows it as from 「電話」), a readable
Japanese body (searchable) and a card in ``data`` for the client to render: who called, a
``tel:`` link, how many calls collapsed into it, and who claimed or finished the callback
(:class:`FollowUp`, the ``notices`` row). Pure: the caller supplies the names and the
times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from chat.domain.dates import wire_time_or_none
from chat.domain.numbers import Number

# City halls in Japan: what staff read is Japan time, whatever the server's zone.
LOCAL_ZONE = ZoneInfo("Asia/Tokyo")
SYSTEM_SENDER_NAME = "電話"


class NoticeState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"


def local_time(moment: datetime) -> str:
    t = moment.astimezone(LOCAL_ZONE)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def local_span(first: datetime, last: datetime) -> str:
    """From ``first`` to ``last`` as a person writes it: one time when they are the same
    minute (12月7日 19:27), the day once when it is the same day (12月7日 19:27〜19:45)."""
    start, end = first.astimezone(LOCAL_ZONE), last.astimezone(LOCAL_ZONE)
    if (start.date(), start.hour, start.minute) == (end.date(), end.hour, end.minute):
        return local_time(first)
    if start.date() == end.date():
        return f"{local_time(first)}〜{end:%H:%M}"
    return f"{local_time(first)}〜{local_time(last)}"


@dataclass(frozen=True)
class Caller:
    number: Number | None
    name: str | None

    def label(self, country_code: str) -> str:
        """「株式会社山田（0312345678）」, 「田中 美咲（内線 2201）」, 「非通知」…"""
        if self.number is None:
            return f"{self.name}（非通知）" if self.name else "非通知"
        shown = self.number.display(country_code)
        if self.number.is_extension:
            shown = f"内線 {shown}"
        return f"{self.name}（{shown}）" if self.name else shown

    def card(self, country_code: str) -> dict[str, Any]:
        return {
            "number": self.number.value if self.number else None,
            "display": self.number.display(country_code) if self.number else "非通知",
            "name": self.name,
            "tel": self.number.tel_uri() if self.number else None,
        }


@dataclass(frozen=True)
class Person:
    id: int
    name: str

    def card(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name}


@dataclass(frozen=True)
class FollowUp:
    """Where the callback stands (the ``notices`` row)."""

    state: NoticeState = NoticeState.OPEN
    claimed_by: Person | None = None
    claimed_at: datetime | None = None
    done_by: Person | None = None
    done_at: datetime | None = None

    def card(self) -> dict[str, Any]:
        return {"state": self.state.value,
                "claimed_by": self.claimed_by.card() if self.claimed_by else None,
                "claimed_at": wire_time_or_none(self.claimed_at),
                "done_by": self.done_by.card() if self.done_by else None,
                "done_at": wire_time_or_none(self.done_at)}
