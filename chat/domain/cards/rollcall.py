"""A safety roll call's card (安否確認): posted by the system into the all-staff channel;
each person answers it with one tap (``chat.actions.rollcall``), so it keeps no follow-up
row: the card holds what every phone needs to show the buttons."""

from __future__ import annotations

from typing import Any

from chat.domain.cards import Card, Sender, Stored, register
from chat.domain.kinds import MessageKind
from chat.domain.rollcall import STATUS_JA, RollCallInfo, title


def body(info: RollCallInfo) -> str:
    """The card's searchable text: 「【訓練】安否確認：…」 for a drill's."""
    return f"{title(drill=info.drill)}：{info.text}"


def card(info: RollCallInfo) -> dict[str, Any]:
    return {"rollcall_id": info.id, "title": title(drill=info.drill), "text": info.text,
            "drill": info.drill, "deadline": info.wire()["deadline"],
            "statuses": [{"value": s.value, "label": label} for s, label in STATUS_JA.items()]}


ROLLCALL = register(Card(
    kind=MessageKind.ROLLCALL, sender=Sender.SYSTEM, stores=frozenset({Stored.DATA}),
    push_label="安否確認"))
