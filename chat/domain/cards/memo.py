"""A phone memo (伝言メモ): what an operator wrote down for someone who was away, a
system notice in their 「電話」 channel (or a desk group's channel) with the same
claim-and-done flow as a missed call; ``chat.actions.memos`` records it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from chat.domain.cards import Card, CardAction, Sender, Stored, register
from chat.domain.dates import wire_time_or_none
from chat.domain.kinds import MessageKind
from chat.domain.notices import SYSTEM_SENDER_NAME, Caller, FollowUp, Person, local_time


class MemoAction(StrEnum):
    CALL_BACK = "call_back"
    WILL_CALL_AGAIN = "will_call_again"
    MESSAGE = "message"


MEMO_ACTION_JA = {
    MemoAction.CALL_BACK: "折り返しお電話ください",
    MemoAction.WILL_CALL_AGAIN: "また掛け直します",
    MemoAction.MESSAGE: "伝言があります",
}


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
        return (f"伝言メモ（{self.for_name}さんへ）：{who} より。{MEMO_ACTION_JA[self.action]}。"
                f"{note}（受付 {self.taken_by.name} {local_time(self.taken_at)}）")

    def card(self, country_code: str, follow_up: FollowUp) -> dict[str, Any]:
        return {"notice": MessageKind.MEMO.value, "sender": SYSTEM_SENDER_NAME,
                "caller": self.caller.card(country_code), "company": self.company,
                "action": self.action.value, "action_label": MEMO_ACTION_JA[self.action],
                "text": self.text, "for": self.for_name,
                "taken_by": self.taken_by.card(), "taken_at": wire_time_or_none(self.taken_at),
                "count": 1, **follow_up.card()}


MEMO = register(Card(
    kind=MessageKind.MEMO, sender=Sender.SYSTEM,
    stores=frozenset({Stored.DATA, Stored.NOTICE}),
    actions=frozenset({CardAction.CLAIM, CardAction.DONE}), push_label="伝言メモ"))
