"""Stand-ins for the hub's unit tests (``chat/hub/``): encoded frames as the hub fans them
out, and connections whose socket is a :class:`RecordingSocket` that keeps what is
written to it (and can be jammed, as a phone that stopped reading). Every frame read back
is validated against the server frame schema.

Imported as ``tests.support.hub`` (not re-exported from ``tests.support``: the names are
the hub's own vocabulary, ``connection``, ``drain``, and mean nothing elsewhere).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from chat.frames import encode, validate_server_frame
from chat.hub import Connection, Outgoing


def message_frame(channel_id: int, seq: int, body: str = "テスト") -> str:
    return encode({"type": "message", "message": {
        "id": seq, "channel_id": channel_id, "seq": seq, "version": seq, "sender_id": 1,
        "client_id": f"c-{seq}", "kind": "text", "body": body, "revision": 1,
        "created_at": "2025-04-01T09:00:00Z", "edited_at": None, "deleted_at": None,
        "purged_at": None, "data": None, "reply_to": None, "mentions": [], "reactions": [],
        "pinned_at": None, "attachment": None}})


def joined_frame(channel_id: int) -> str:
    return encode({"type": "channel.joined", "channel": {
        "id": channel_id, "kind": "group", "name": "防災連絡", "department_id": None,
        "last_seq": 0, "last_version": 0}})


def left_frame(channel_id: int) -> str:
    return encode({"type": "channel.left", "channel_id": channel_id})


class RecordingSocket:
    """A :class:`chat.hub.FrameSink` that keeps what is written to it, in order."""

    def __init__(self, *, jammed: bool = False) -> None:
        self.written: asyncio.Queue[Outgoing] = asyncio.Queue()
        self.writes: list[int] = []  # frames per socket write
        self.jammed = jammed
        self.jam_after_a_write = False

    def congested(self) -> bool:
        return self.jammed

    def write_frame(self, frame: Outgoing) -> None:
        self.written.put_nowait(frame)
        self.writes.append(1)

    def write_unless_congested(self, frame: Outgoing) -> bool:
        if self.jammed:
            return False
        self.write_frame(frame)
        return True

    def write_frames(self, frames: Sequence[Outgoing]) -> None:
        for frame in frames:
            self.written.put_nowait(frame)
        self.writes.append(len(frames))
        self.jammed = self.jammed or self.jam_after_a_write


def connection(user_id: int, session_id: int, *, max_backlog: int = 100,
               jammed: bool = False, opened: bool = True) -> Connection:
    """A connection on a recording socket, open (past its ready frame) unless told."""
    conn = Connection(user_id, session_id, max_backlog=max_backlog,
                      sink=RecordingSocket(jammed=jammed))
    if opened:
        conn.open()
    return conn


def socket_of(conn: Connection) -> RecordingSocket:
    assert isinstance(conn.sink, RecordingSocket)
    return conn.sink


def decoded_frame(frame: Outgoing) -> dict[str, Any]:
    """A frame as a client reads it, validated against the server frame schema."""
    decoded: dict[str, Any] = json.loads(frame.text)
    validate_server_frame(decoded)
    return decoded


def drain(conn: Connection) -> list[dict[str, Any]]:
    """Every frame written to ``conn``'s socket so far, decoded and validated."""
    written = socket_of(conn).written
    frames = []
    while not written.empty():
        frames.append(decoded_frame(written.get_nowait()))
    return frames
