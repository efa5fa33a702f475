"""What every phone is pushed on a declaration and its end (chat.domain.disaster_push):
urgent, about no channel, and a drill says 訓練 where the real thing never does."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chat.domain.disaster import DisasterState
from chat.domain.disaster_push import push_note

DECLARED = datetime(2026, 12, 7, 0, 30, tzinfo=UTC)


def state(*, drill: bool, ended: bool = False) -> DisasterState:
    return DisasterState(id=3, name="令和8年台風第10号", drill=drill, declared_at=DECLARED,
                         declared_by="田中 美咲 (user 4)",
                         ended_at=DECLARED if ended else None)


def test_a_drill_says_so_in_the_title_and_the_text_and_the_real_thing_never_does() -> None:
    drill = push_note(state(drill=True))
    assert drill.title.startswith("【訓練】") and "これは訓練です" in drill.body
    real = push_note(state(drill=False))
    assert real.title == "【災害】令和8年台風第10号" and "訓練" not in real.title + real.body
    assert {drill.urgency, real.urgency} == {"high"}


def test_the_payload_opens_the_app_and_names_no_channel() -> None:
    payload = json.loads(push_note(state(drill=True, ended=True)).payload())
    assert payload == {"title": "【訓練】令和8年台風第10号：訓練終了",
                       "body": "訓練は終了しました。", "url": "/", "kind": "disaster.ended"}
