"""Pure rules of the smartphone client: stamps, mentions, excerpts, pins, pushes."""

from __future__ import annotations

import json

from chat.domain.kinds import MessageKind
from chat.domain.messages import excerpt, may_pin, mentioned_members
from chat.domain.push import message_notes, notice_note, recipients, shorten
from chat.domain.stamps import STAMPS, group_reactions, is_stamp


def test_the_stamps_are_a_fixed_set_compared_exactly() -> None:
    assert is_stamp("👍") and is_stamp("❤️") and is_stamp("了解") and is_stamp("お疲れさま")
    assert not is_stamp("❤")        # without the variation selector
    assert not is_stamp("🍺") and not is_stamp("")
    assert len(set(STAMPS)) == len(STAMPS)


def test_reactions_group_by_stamp_in_the_set_s_order_with_sorted_members() -> None:
    rows = [("了解", 9), ("👍", 5), ("👍", 2)]
    assert group_reactions(rows) == [{"emoji": "👍", "user_ids": [2, 5]},
                                     {"emoji": "了解", "user_ids": [9]}]
    assert group_reactions([]) == []


def test_mentions_keep_members_other_than_the_sender_once_in_order() -> None:
    assert mentioned_members([4, 9, 2, 4, 1], [1, 2, 3, 4], sender_id=1) == [4, 2]


def test_an_excerpt_is_one_line_of_at_most_80_characters_and_empty_when_gone() -> None:
    assert excerpt("会議は\n15時から", gone=False) == "会議は 15時から"
    long = excerpt("あ" * 100, gone=False)
    assert len(long) == 80 and long.endswith("…")
    assert excerpt("消えた", gone=True) == ""


def test_only_announcers_pin_in_announcements() -> None:
    assert may_pin("staff", "group") and may_pin("staff", "department")
    assert not may_pin("staff", "announcement") and may_pin("manager", "announcement")


def test_pushes_go_to_unmuted_members_but_the_sender_and_mentions_pass_mute() -> None:
    flags = {1: False, 2: True, 3: False, 4: True}
    assert recipients(flags, sender_id=1, mentioned=[4, 1, 99]) == ([3], [4])
    assert recipients(flags, sender_id=None) == ([1, 3], [])


def test_a_push_note_names_the_channel_and_sender_and_stays_short() -> None:
    note = message_notes(channel_id=3, channel_kind="group", channel_name="幹事",
                         message_id=8, sender_name="鈴木 花子", body="あ" * 200,
                         kind=MessageKind.TEXT, mentioned=False)
    payload = json.loads(note.payload())
    assert payload["title"] == "幹事：鈴木 花子" and len(payload["body"]) == 120
    assert payload["url"] == "/?channel=3&message=8" and note.urgency == "normal"
    direct = message_notes(channel_id=3, channel_kind="direct", channel_name="x",
                           message_id=8, sender_name="鈴木 花子", body="",
                           kind=MessageKind.PHOTO, mentioned=True)
    assert direct.title == "鈴木 花子（あなた宛て）" and direct.body == "📷 写真を送信しました"
    assert direct.urgency == "high" and direct.kind == "mention"
    memo = notice_note(kind=MessageKind.MISSED_CALL, channel_id=1, message_id=2, body="不在着信：…")
    assert memo.title == "電話：不在着信" and memo.urgency == "high"
    assert shorten("a\n b") == "a b"
