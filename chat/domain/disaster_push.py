"""What every phone is pushed when a disaster or a drill is declared or ended (pure).

Apart from ``chat.domain.disaster`` so that a card module may import the disaster's rules
without pulling in the push texts (which read the card registry).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chat.domain.disaster import DRILL_LABEL, DisasterState
from chat.domain.push import PushNote

# RFC 8030 §5.2: a declaration still matters to a phone that was off for a day.
DISASTER_PUSH_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class DisasterPushNote(PushNote):
    """A declaration or an end, pushed to everyone: about no channel, it opens the app."""

    def payload(self) -> str:
        return json.dumps({"title": self.title, "body": self.body, "url": "/",
                           "kind": self.kind}, ensure_ascii=False)


def push_note(state: DisasterState) -> DisasterPushNote:
    """What every phone shows, urgently (RFC 8030 §5.3 ``high``); a drill says 訓練 in
    the title and the body, so nobody takes it for the real thing."""
    if state.active:
        kind = "disaster.declared"
        if state.drill:
            title = f"【{DRILL_LABEL}】災害モード（{DRILL_LABEL}）が始まりました"
            body = f"これは{DRILL_LABEL}です。{state.name}。アプリを開いて指示を確認してください。"
        else:
            title = f"【災害】{state.name}"
            body = "災害対策本部が設置されました。アプリを開いて指示を確認してください。"
    else:
        kind = "disaster.ended"
        if state.drill:
            title = f"【{DRILL_LABEL}】{state.name}：{DRILL_LABEL}終了"
            body = f"{DRILL_LABEL}は終了しました。"
        else:
            title = f"{state.name}：災害モード終了"
            body = "災害モードは終了しました。"
    return DisasterPushNote(kind=kind, title=title, body=body, channel_id=0, message_id=0,
                            urgency="high", ttl=DISASTER_PUSH_TTL_SECONDS)
