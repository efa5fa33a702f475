"""Urgent broadcasts' pure rules: who sends, the text, when repeats come, and the push
that stays on screen."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chat.config import Settings, SettingsError
from chat.domain.broadcast import (
    BroadcastRuleError,
    RepeatPlan,
    broadcast_note,
    clean_group_name,
    clean_text,
    may_broadcast,
)
from chat.domain.cards.broadcast import BroadcastCard
from chat.domain.push import notice_note
from chat.domain.roles import Role

SENT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def test_crisis_managers_and_admins_broadcast_nobody_else() -> None:
    assert {r for r in Role if may_broadcast(r)} == {Role.CRISIS, Role.MANAGER, Role.ADMIN}


def test_text_and_group_names() -> None:
    assert clean_text("  避難してください \n") == "避難してください"
    for bad in ("   ", "あ" * 501):
        with pytest.raises(BroadcastRuleError):
            clean_text(bad)
    assert clean_group_name(" 本庁舎  3階 ") == "本庁舎 3階"
    for bad in ("", "all-staff", "あ" * 41):
        with pytest.raises(BroadcastRuleError):
            clean_group_name(bad)


def test_repeats_come_every_interval_a_bounded_number_of_times() -> None:
    plan = RepeatPlan(every=timedelta(minutes=3), max_repeats=2)
    assert plan.first(SENT) == SENT + timedelta(minutes=3)
    late = SENT + timedelta(minutes=10)          # a node was down: no burst of repeats
    assert plan.after(1, late) == late + timedelta(minutes=3)
    assert plan.after(2, late) is None
    assert RepeatPlan(every=timedelta(minutes=3), max_repeats=0).first(SENT) is None


def test_the_push_is_urgent_lasting_vibrating_and_tagged_and_others_unchanged() -> None:
    note = broadcast_note(channel_id=3, message_id=9, body="【緊急放送・全職員】避難",
                          sender_name="伊藤 大輔", repeat=2)
    payload = json.loads(note.payload())
    assert note.urgency == "high" and note.ttl == 3600
    assert payload["title"] == "緊急放送：伊藤 大輔（再通知2回目）"
    assert payload["require_interaction"] is True and payload["vibrate"][0] == 600
    assert payload["tag"] == "broadcast-9" and payload["kind"] == "broadcast"
    # A notice's payload keeps exactly its fields.
    plain = json.loads(notice_note(kind=note.kind, channel_id=3, message_id=9,
                                   body="x").payload())
    assert set(plain) == {"title", "body", "channel_id", "message_id", "url", "kind"}


def test_a_drill_broadcast_says_so() -> None:
    card = BroadcastCard(text="避難訓練です", target="全職員", sender_name="伊藤 大輔",
                         sent_at=SENT, drill=True)
    assert card.body() == "【訓練】【緊急放送・全職員】避難訓練です"
    assert card.card()["drill"] is True and card.card()["broadcast"] is True


def test_the_repeat_settings() -> None:
    assert (Settings.from_env({}).broadcast_repeat_seconds,
            Settings.from_env({}).broadcast_max_repeats) == (180.0, 3)
    custom = Settings.from_env({"CHAT_BROADCAST_REPEAT_MINUTES": "5",
                                "CHAT_BROADCAST_REPEATS": "0"})
    assert (custom.broadcast_repeat_seconds, custom.broadcast_max_repeats) == (300.0, 0)
    for env in ({"CHAT_BROADCAST_REPEAT_MINUTES": "0.1"}, {"CHAT_BROADCAST_REPEATS": "99"},
                {"CHAT_BROADCAST_REPEATS": "x"}):
        with pytest.raises(SettingsError):
            Settings.from_env(env)
