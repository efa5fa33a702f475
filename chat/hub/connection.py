"""One websocket's outgoing side: frames written at once while its socket keeps up,
kept in a bounded backlog while it is congested, and a close for resync (4001) when that
backlog overflows, so one stalled phone never delays anyone else."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

from chat.protocol import CLOSE_RESYNC

# At most this many frames in one socket write (Connection.offer_many).
FRAMES_PER_WRITE = 16


class Outgoing:
    """One encoded server frame on its way to any number of connections. The first
    socket that writes it serialises it into ``wire``; the others write the same bytes."""

    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire: bytes | None = None


class FrameSink(Protocol):
    """The socket end of a connection (``chat.web.transport.WebSocketProtocol``)."""

    def congested(self) -> bool:
        """True while the socket's buffer is over its high-water mark: write later."""
        ...

    def write_frame(self, frame: Outgoing) -> None:
        """Write now, never waiting; a socket that is closing drops the frame."""
        ...

    def write_unless_congested(self, frame: Outgoing) -> bool:
        """:meth:`write_frame` unless :meth:`congested` (then False, nothing written):
        a delivery's one call into the socket, as most deliveries find it writable."""
        ...

    def write_frames(self, frames: Sequence[Outgoing]) -> None:
        """:meth:`write_frame` each of ``frames``, in order, with one socket write."""
        ...


class Connection:
    """The outgoing side of one websocket.

    Until :meth:`open` (the session sends its ``ready`` frame first) and whenever the
    socket is congested, frames wait in a backlog of at most ``max_backlog``; otherwise
    they are written at once. Overflow requests a close for resync (CLOSE_RESYNC) and
    drops the backlog: the client reconnects and resyncs from its last seq. Order is
    kept: nothing is written past a non-empty backlog.

    ``wake`` is called when a close is requested, so the session can act on it; the
    session owns closing the socket.
    """

    __slots__ = ("_backlog", "_max_backlog", "_open", "channel_ids", "close_requested",
                 "session_id", "sink", "user_id", "wake")

    def __init__(self, user_id: int, session_id: int, *, max_backlog: int,
                 sink: FrameSink | None = None) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.channel_ids: set[int] = set()
        self.close_requested: tuple[int, str] | None = None
        self.sink = sink
        self.wake: Callable[[], None] | None = None
        # Made on first need: most connections are idle and never hold a backlog.
        self._backlog: deque[Outgoing] | None = None
        self._max_backlog = max_backlog
        self._open = False

    def offer(self, frame: Outgoing | str) -> None:
        """Write ``frame`` or keep it for later, without waiting; overflow closes the
        connection for resync."""
        if self.close_requested is not None:
            return
        if isinstance(frame, str):
            frame = Outgoing(frame)
        backlog = self._backlog
        if backlog is None:
            sink = self.sink
            if self._open and sink is not None and sink.write_unless_congested(frame):
                return
            backlog = self._backlog = deque()
        if len(backlog) >= self._max_backlog:
            self._backlog = None
            self.request_close(CLOSE_RESYNC, "too slow: reconnect and resync")
            return
        backlog.append(frame)

    def offer_many(self, frames: Sequence[Outgoing]) -> None:
        """:meth:`offer` each of ``frames``, in order, written :data:`FRAMES_PER_WRITE`
        at a time while the socket takes them: a system call per frame was most of a
        fanout's cost. The socket's buffer passes its high-water mark by at most one
        such write, as it did by one frame before; the rest waits in the backlog."""
        sink, at = self.sink, 0
        while at < len(frames) and (
                self.close_requested is None and self._backlog is None and self._open
                and sink is not None and not sink.congested()):
            sink.write_frames(frames[at:at + FRAMES_PER_WRITE])
            at += FRAMES_PER_WRITE
        for frame in frames[at:]:
            self.offer(frame)

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        """Start writing: what was offered meanwhile goes first."""
        self._open = True
        self.flush()

    def flush(self) -> None:
        """Write the backlog while the socket takes it (called again when it drains)."""
        backlog, sink = self._backlog, self.sink
        if backlog is None or not self._open or sink is None:
            return
        if self.close_requested is not None:
            return
        while backlog and not sink.congested():
            sink.write_frame(backlog.popleft())
        if not backlog:
            self._backlog = None

    def take_backlog(self) -> list[Outgoing]:
        """Remove and return every frame waiting (closing: they go before the close)."""
        backlog, self._backlog = self._backlog, None
        return list(backlog) if backlog else []

    def request_close(self, code: int, reason: str) -> None:
        if self.close_requested is None:
            self.close_requested = (code, reason)
            if self.wake is not None:
                self.wake()
