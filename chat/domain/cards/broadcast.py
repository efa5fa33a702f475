"""An urgent broadcast (緊急放送): what the building's PA used to say, posted by a person
with a broadcasting role into the all-staff channel or a building/floor group's channel.
Its phone view opens full screen and asks for 確認しました; ``chat.actions.broadcast``
sends it and repeats it to whoever has not confirmed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.domain.cards import Card, Sender, Stored, register
from chat.domain.dates import wire_time
from chat.domain.disaster import DRILL_LABEL
from chat.domain.kinds import MessageKind

BROADCAST_LABEL = "緊急放送"


@dataclass(frozen=True)
class BroadcastCard:
    """``target`` is what the phone names as the audience (「全職員」, 「本庁舎3階」);
    ``drill`` marks a broadcast sent while a drill is declared."""

    text: str
    target: str
    sender_name: str
    sent_at: datetime
    drill: bool = False

    def body(self) -> str:
        drill = f"【{DRILL_LABEL}】" if self.drill else ""
        return f"{drill}【{BROADCAST_LABEL}・{self.target}】{self.text}"

    def card(self) -> dict[str, Any]:
        return {"broadcast": True, "text": self.text, "target": self.target,
                "sender": self.sender_name, "sent_at": wire_time(self.sent_at),
                "drill": self.drill}


BROADCAST = register(Card(kind=MessageKind.BROADCAST, sender=Sender.PERSON,
                          stores=frozenset({Stored.DATA}), push_label=BROADCAST_LABEL))
