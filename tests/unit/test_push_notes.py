"""What a Web Push says for each message kind (chat.domain.push), worded by its card."""

from __future__ import annotations

import json

import pytest

from chat.domain.cards import NEUTRAL_PUSH_LABEL, Card, Sender, UnknownKind
from chat.domain.kinds import MessageKind
from chat.domain.push import message_notes, notice_note


def _notice_title(kind: MessageKind) -> str:
    return notice_note(kind=kind, channel_id=1, message_id=2, body="…").title


def test_a_notice_push_is_titled_with_its_cards_label() -> None:
    assert _notice_title(MessageKind.MISSED_CALL) == "電話：不在着信"
    assert _notice_title(MessageKind.MEMO) == "電話：伝言メモ"
    note = notice_note(kind=MessageKind.MEMO, channel_id=1, message_id=2, body="伝言")
    assert json.loads(note.payload())["kind"] == "memo" and note.urgency == "high"


def test_a_kind_without_a_label_is_pushed_neutrally_never_as_a_memo() -> None:
    """The old rule called every kind but a missed call 「伝言メモ」."""
    assert _notice_title(MessageKind.TEXT) == f"電話：{NEUTRAL_PUSH_LABEL}" == "電話：お知らせ"
    unlabelled = Card(kind=MessageKind.TEXT, sender=Sender.SYSTEM)
    assert unlabelled.push_title_label() == "お知らせ"


def test_a_kind_nobody_registered_is_refused() -> None:
    with pytest.raises(UnknownKind):
        notice_note(kind="disaster.report",  # type: ignore[arg-type]
                    channel_id=1, message_id=2, body="…")


@pytest.mark.parametrize(("kind", "body", "shown"), [
    (MessageKind.TEXT, "  会議は14時 ", "会議は14時"),
    (MessageKind.PHOTO, " 現場です ", "📷 現場です"),
    (MessageKind.PHOTO, "", "📷 写真を送信しました"),
])
def test_a_persons_message_is_worded_by_its_card(kind: MessageKind, body: str,
                                                 shown: str) -> None:
    note = message_notes(channel_id=3, channel_kind="group", channel_name="幹事",
                         message_id=8, sender_name="鈴木 花子", body=body, kind=kind,
                         mentioned=False)
    assert note.body == shown and note.kind == "message"
