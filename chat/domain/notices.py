"""System notices (a missed call, a phone memo 伝言メモ): their Japanese text and card.

A notice is a message of a distinct ``kind`` (``call.missed``, ``memo``) with no human
sender (the client shows it as from 「電話」), a readable Japanese body (searchable) and
a card in ``data`` for the client to render: who called, a ``tel:`` link, how many calls
collapsed into it, and who claimed or finished the callback. Pure: the caller supplies
the names and the times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from chat.domain.numbers import Number

# City halls in Japan: what staff read is Japan time, whatever the server's zone.
LOCAL_ZONE = ZoneInfo("Asia/Tokyo")
SYSTEM_SENDER_NAME = "電話"


class NoticeKind(StrEnum):
    MISSED_CALL = "call.missed"
    MEMO = "memo"


class NoticeState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    DONE = "done"


class MemoAction(StrEnum):
    CALL_BACK = "call_back"
    WILL_CALL_AGAIN = "will_call_again"
    MESSAGE = "message"


MEMO_ACTION_JA = {
    MemoAction.CALL_BACK: "折り返しお電話ください",
    MemoAction.WILL_CALL_AGAIN: "また掛け直します",
    MemoAction.MESSAGE: "伝言があります",
}
REASON_JA = {"no_answer": "応答なし", "busy": "話し中", "caller_cancelled": "発信者が切断",
             "voicemail": "留守番電話"}


def local_time(moment: datetime) -> str:
    t = moment.astimezone(LOCAL_ZONE)
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


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
                "claimed_at": _iso(self.claimed_at),
                "done_by": self.done_by.card() if self.done_by else None,
                "done_at": _iso(self.done_at)}


@dataclass(frozen=True)
class MissedCall:
    caller: Caller
    target_kind: str          # "user" | "desk"
    target_name: str
    extension: str
    reason: str               # a MissedReason value or "voicemail"
    count: int
    first_at: datetime
    last_at: datetime

    def body(self, country_code: str) -> str:
        head = "留守番電話" if self.reason == "voicemail" else "不在着信"
        where = f"【{self.target_name}（{self.extension}）】" if self.target_kind == "desk" else ""
        who = self.caller.label(country_code)
        if self.count == 1:
            return (f"{where}{head}：{who} から {local_time(self.last_at)}"
                    f"（{REASON_JA.get(self.reason, self.reason)}）")
        return (f"{where}{head} {self.count}件：{who} から "
                f"{local_time(self.first_at)}〜{local_time(self.last_at)}")

    def card(self, country_code: str, follow_up: FollowUp) -> dict[str, Any]:
        return {"notice": NoticeKind.MISSED_CALL.value, "sender": SYSTEM_SENDER_NAME,
                "caller": self.caller.card(country_code),
                "target": {"kind": self.target_kind, "name": self.target_name,
                           "extension": self.extension},
                "reason": self.reason, "count": self.count,
                "first_at": _iso(self.first_at), "last_at": _iso(self.last_at),
                **follow_up.card()}


@dataclass(frozen=True)
class Memo:
    caller: Caller
    company: str | None
    action: MemoAction
    text: str
    for_name: str
    taken_by: Person
    taken_at: datetime

    def body(self, country_code: str) -> str:
        who = self.caller.label(country_code)
        if self.company:
            who = f"{self.company} {who}"
        note = f"「{self.text}」" if self.text else ""
        return (f"伝言メモ（{self.for_name} さんへ）：{who} より。{MEMO_ACTION_JA[self.action]}。"
                f"{note}（受付 {self.taken_by.name} {local_time(self.taken_at)}）")

    def card(self, country_code: str, follow_up: FollowUp) -> dict[str, Any]:
        return {"notice": NoticeKind.MEMO.value, "sender": SYSTEM_SENDER_NAME,
                "caller": self.caller.card(country_code), "company": self.company,
                "action": self.action.value, "action_label": MEMO_ACTION_JA[self.action],
                "text": self.text, "for": self.for_name,
                "taken_by": self.taken_by.card(), "taken_at": _iso(self.taken_at),
                "count": 1, **follow_up.card()}
