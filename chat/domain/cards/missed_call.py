"""A missed call (不在着信, or 留守番電話 when it went to voicemail) to a person's
extension or a desk-group phone: a system notice in the person's 「電話」 channel or the
desk's channel, with the claim-and-done flow. Repeats from one number to one target
collapse into the open notice (``count``); ``chat.actions.missed_calls`` posts and collapses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.domain.cards import Card, CardAction, Sender, Stored, register
from chat.domain.dates import wire_time
from chat.domain.kinds import MessageKind
from chat.domain.notices import SYSTEM_SENDER_NAME, Caller, FollowUp, local_span, local_time

REASON_JA = {"no_answer": "応答なし", "busy": "話し中", "caller_cancelled": "発信者が切断",
             "voicemail": "留守番電話"}


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
                f"{local_span(self.first_at, self.last_at)}")

    def card(self, country_code: str, follow_up: FollowUp) -> dict[str, Any]:
        return {"notice": MessageKind.MISSED_CALL.value, "sender": SYSTEM_SENDER_NAME,
                "caller": self.caller.card(country_code),
                "target": {"kind": self.target_kind, "name": self.target_name,
                           "extension": self.extension},
                "reason": self.reason, "count": self.count,
                "first_at": wire_time(self.first_at), "last_at": wire_time(self.last_at),
                **follow_up.card()}


MISSED_CALL = register(Card(
    kind=MessageKind.MISSED_CALL, sender=Sender.SYSTEM,
    stores=frozenset({Stored.DATA, Stored.NOTICE}),
    actions=frozenset({CardAction.CLAIM, CardAction.DONE}), push_label="不在着信"))
