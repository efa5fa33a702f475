"""The relay state both baselines share: who listens to which channel, and the frames.

The wire shape is Tsunagu's (docs/protocol.md) cut to what the generator uses: ``hello``
on connect; ``auth`` (its ``channels`` field, which Tsunagu ignores, says what to
subscribe to; no token is checked) answered by ``ready``; ``send`` fanned out as one
``message`` frame, encoded once, to every member's connection, and ``ack`` to the sender;
``ping`` answered by ``pong``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Generic, TypeVar

C = TypeVar("C")

HELLO = json.dumps({"type": "hello", "dpop_nonce": "baseline"})
READY = json.dumps({"type": "ready"})
PONG = json.dumps({"type": "pong"})


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


class Relay(Generic[C]):
    """Channel id -> connections; message ids in arrival order."""

    def __init__(self) -> None:
        self.by_channel: dict[int, set[C]] = defaultdict(set)
        self.next_id = 0

    def join(self, conn: C, channels: list[int]) -> None:
        for channel_id in channels:
            self.by_channel[channel_id].add(conn)

    def leave(self, conn: C, channels: list[int]) -> None:
        for channel_id in channels:
            self.by_channel[channel_id].discard(conn)

    def message(self, frame: dict[str, Any], sender: int) -> tuple[int, str, str]:
        """(channel id, the message frame, the ack) for a ``send`` frame."""
        self.next_id += 1
        channel_id = int(frame["channel_id"])
        message = {"id": self.next_id, "channel_id": channel_id, "seq": self.next_id,
                   "sender_id": sender, "client_id": frame["client_id"], "kind": "text",
                   "body": frame["body"]}
        ack: dict[str, Any] = {"type": "ack", "client_id": frame["client_id"],
                               "message": message, "duplicate": False}
        if "ref" in frame:
            ack["ref"] = frame["ref"]
        return channel_id, encode({"type": "message", "message": message}), encode(ack)
