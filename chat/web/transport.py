"""The websocket protocol uvicorn runs for Tsunagu: its own sans-I/O protocol
(``ws="websockets-sansio"``) plus a way to write a frame without awaiting.

Starlette's ``WebSocket.send_text`` is a coroutine, so writing to many sockets from one
place meant a task per connection draining a queue: per recipient, a queue hop, a task
wake-up and three layers of ``send`` (Starlette, its exception wrapper, uvicorn). Fanout
to a 1,000-member channel spent most of its time there. This protocol hands the
endpoint an :class:`chat.hub.FrameSink` (itself, under :data:`SINK_EXTENSION` in the
ASGI scope's ``extensions``), so the hub writes each frame straight to the transport
from its dispatch loop, and serialises it once for all recipients.

A transport whose buffer passes its high-water mark says so (``pause_writing``); the
connection then keeps frames in its bounded backlog and flushes it from
``resume_writing``. Nothing here ever waits for a slow peer, and the kernel's send
buffer is capped (:data:`SEND_BUFFER_BYTES`) so that a stalled one is noticed soon.
Reading a socket stops only while frames wait for the session
(:data:`UNREAD_FRAMES_BEFORE_PAUSE`), not after each one as uvicorn's does.

Serve with ``uvicorn.Config(app, ws=WebSocketProtocol, ...)`` (``tsunagu serve`` and the
tests do). It relies on uvicorn's ``WebSocketsSansIOProtocol`` internals (``transport``,
``conn``, ``writable``, ``close_sent``, ``close_timer``, ``read_paused``, ``queue``,
``send_receive_event_to_app``), checked by tests/unit/test_transport.py and the
integration tests, which run every websocket through it.
"""

from __future__ import annotations

import socket
import struct
from asyncio import BaseTransport
from collections.abc import Callable, Sequence
from typing import cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from chat.hub import Outgoing

SINK_EXTENSION = "tsunagu.sink"
# The kernel's send buffer for each websocket (Linux doubles it for its bookkeeping).
# Left to autotuning it grows to net.ipv4.tcp_wmem's maximum (4 MiB by default) for a
# peer that stopped reading: a stalled phone would hold that much kernel memory and take
# that many bytes to notice. 64 KiB still carries a 500-message resync page over a
# 100 ms mobile round trip in under a second.
SEND_BUFFER_BYTES = 64 * 1024
# When the server stops, how long a connection may take to flush before it is cut.
SHUTDOWN_FLUSH_SECONDS = 1.0
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")
# Reading a socket stops while this many of its frames wait for the session to take
# them (uvicorn's own protocol stops after every frame). Each stop and restart is a
# change to the event loop's epoll set, two system calls and a callback handle a frame;
# a session waiting for the next frame (nearly always) takes it before another comes.
UNREAD_FRAMES_BEFORE_PAUSE = 2


def text_frame(payload: bytes) -> bytes:
    """A whole websocket text frame carrying ``payload`` (UTF-8). RFC 6455 §5.1: "A
    server MUST NOT mask any frames that it sends to the client", so without
    permessage-deflate (whose compressor is per connection) these bytes are the same for
    every recipient. The header is written here (§5.2: FIN and the text opcode, then
    the length in 7, 7+16 or 7+64 bits): ``websockets``' general ``Frame.serialize``
    cost several times as much, twice a message (its ack, its frame)."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 1 << 16:
        return _HEADER_16.pack(0x81, 126, length) + payload
    return _HEADER_64.pack(0x81, 127, length) + payload


def _wire(frame: Outgoing) -> bytes:
    """``frame``'s websocket bytes, made by the first socket that writes it."""
    wire = frame.wire
    if wire is None:
        wire = frame.wire = text_frame(frame.text.encode())
    return wire


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O websocket protocol, and the connection's :class:`FrameSink`."""

    on_drained: Callable[[], None] | None = None
    # Set by the connection's session (chat.web.ws): asked to drain on server shutdown.
    on_shutdown: Callable[[], None] | None = None
    shutting_down = False
    # ``not writable.is_set()``, kept as a plain flag: read for every delivery.
    _congested = False

    def connection_made(self, transport: BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # accepted: the app's task is created but has not run
            extensions = cast("dict[str, object]", self.scope["extensions"])
            extensions[SINK_EXTENSION] = self

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if self.handshake_complete and self.response is not None:
            # The handshake's request and response (and their headers) are not needed
            # once the socket is open, and a city hall keeps thousands of sockets open.
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]

    def send_receive_event_to_app(self) -> None:
        """Queue the frame for the session (uvicorn's), and stop reading the socket only
        once :data:`UNREAD_FRAMES_BEFORE_PAUSE` frames wait: what a client can make the
        node hold stays bounded. uvicorn's ``receive`` reads again once the session
        has taken them all."""
        paused = self.read_paused
        self.read_paused = True  # so that uvicorn's method does not pause by itself
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        if not paused and not self.close_sent and \
                self.queue.qsize() >= UNREAD_FRAMES_BEFORE_PAUSE:
            self.read_paused = True
            self.transport.pause_reading()

    # -- FrameSink ---------------------------------------------------------------------

    def congested(self) -> bool:
        """True while the transport's buffer is above its high-water mark."""
        return self._congested

    def write_unless_congested(self, frame: Outgoing) -> bool:
        """:meth:`write_frame` unless congested (False: nothing written), in one call."""
        if self._congested:
            return False
        if self.close_sent or self.disconnected or self.conn.state is not State.OPEN:
            return True  # closing: dropped, as write_frame does
        if self.conn.extensions:
            self._write_compressed((frame,))
            return True
        wire = frame.wire
        if wire is None:
            wire = frame.wire = text_frame(frame.text.encode())
        self.transport.write(wire)
        return True

    def write_frame(self, frame: Outgoing) -> None:
        """Write ``frame`` now (into the transport's buffer if the kernel's is full).
        A socket that is closing or gone drops it: its session is ending."""
        if self._closing():
            return
        if self.conn.extensions:
            self._write_compressed((frame,))
            return
        self.transport.write(_wire(frame))

    def write_frames(self, frames: Sequence[Outgoing]) -> None:
        """Write ``frames`` in order with one call to the transport (one system call
        while the kernel takes it all)."""
        if self._closing():
            return
        if self.conn.extensions:
            self._write_compressed(frames)
            return
        self.transport.write(b"".join([_wire(frame) for frame in frames]))

    def _closing(self) -> bool:
        return self.close_sent or self.disconnected or self.conn.state is not State.OPEN

    def _write_compressed(self, frames: Sequence[Outgoing]) -> None:
        """permessage-deflate: each frame compressed for this connection, by the
        protocol (RFC 7692's context is per connection), then one transport write."""
        for frame in frames:
            self.conn.send_text(frame.text.encode())
        self.transport.write(b"".join(self.conn.data_to_send()))

    def close_now(self, code: int, reason: str) -> None:
        """Send a close frame behind whatever is already written, without waiting for
        the socket to drain. RFC 6455 §7.1.1 lets the server close the TCP connection
        once the close handshake is done; a peer that does not answer within
        ``close_timeout`` (a stalled phone cannot) is cut off, so its buffers go."""
        if self._closing():
            return
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        if self.shutting_down:
            # The server is stopping: close once what is written has gone (as uvicorn's
            # own shutdown does), not after the peer's answering close.
            self._close_after_flush()
            return
        if self.read_paused:  # read the peer's answering close frame
            self.read_paused = False
            self.transport.resume_reading()
        self.close_timer = self.loop.call_later(self.close_timeout, self._abandon)

    def _abandon(self) -> None:
        self.close_timer = None
        self.transport.abort()

    def shutdown(self) -> None:
        """The server stops (SIGTERM). A session that drains (:attr:`on_shutdown`)
        finishes the command it is running, sends its answer and closes 1012 itself;
        uvicorn waits for that up to ``timeout_graceful_shutdown``
        (``CHAT_SHUTDOWN_DRAIN_TIMEOUT``). Any other socket is closed 1012 now."""
        self.shutting_down = True
        if self.on_shutdown is not None and not self._closing():
            self.stop_keepalive()
            self.on_shutdown()
            return
        super().shutdown()
        self._close_after_flush()

    def _close_after_flush(self) -> None:
        # uvicorn closes the transport and waits for its buffer to flush, which a peer
        # that stopped reading never allows: the server's shutdown would wait forever.
        self.transport.close()
        if not self.disconnected:
            self.loop.call_later(SHUTDOWN_FLUSH_SECONDS, self.transport.abort)

    # -- transport callbacks -------------------------------------------------------------

    def pause_writing(self) -> None:
        self._congested = True
        super().pause_writing()

    def resume_writing(self) -> None:
        self._congested = False
        super().resume_writing()
        if self.on_drained is not None:
            self.on_drained()

    def connection_lost(self, exc: Exception | None) -> None:
        self._congested = False  # as uvicorn sets ``writable``: nothing waits for it now
        super().connection_lost(exc)
