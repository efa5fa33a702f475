"""uvicorn's h11 HTTP protocol with deadlines for slow clients (slowloris, slow bodies).

uvicorn (0.54) times out only the pause *between* requests (``timeout_keep_alive``). A
connection that sends nothing, or half a request line, or headers a byte every few
seconds, or a body that trickles, holds a socket, a file descriptor and h11's buffers
for as long as the client likes; a few thousand of them exhaust a node. uvicorn has no
option for it (its docs leave it to the reverse proxy), and a Starlette middleware runs
only once the headers are complete, too late. So this is our code, at the protocol
level, as a small subclass served with ``uvicorn.Config(http=...)``
(:func:`chat.runtime.uvicorn_options`):

- the request line and headers must be complete within ``header_timeout`` of the
  connection opening, or of the first byte of a later request on a kept-alive
  connection (the pause before that byte is uvicorn's keep-alive timeout). The client
  gets ``408 Request Timeout`` and the connection closes. Websocket upgrade requests
  are HTTP requests until their headers are complete, so the handshake is covered too;
  once upgraded, the websocket's own auth deadline takes over.
- a body may pause no longer than ``header_timeout`` between reads and must be complete
  within ``body_timeout`` of its headers; otherwise the connection closes (the app's
  ``receive`` sees ``http.disconnect``). While uvicorn itself has stopped reading
  (the app is behind on the body), the deadline waits.

It relies on uvicorn's ``H11Protocol`` internals (``conn``, ``transport``, ``flow``,
``loop``, ``handle_websocket_upgrade``, ``on_response_complete``), checked by
tests/test_limits.py against the installed uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_RESPONSE = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; "
                            b"charset=utf-8\r\ncontent-length: 16\r\nconnection: close\r\n"
                            b"\r\nRequest Timeout\n")


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` that closes connections whose request arrives too slowly."""

    header_timeout: float = 10.0
    body_timeout: float = 120.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._phase: str | None = None      # "headers" or "body" while one is timed
        self._body_deadline = 0.0           # loop time the body must be complete by
        self._upgraded = False              # the transport belongs to a websocket now

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch(arrived=True)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch(arrived=True)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The pause before the next request is the keep-alive timeout's, unless bytes of
        # it came already (pipelined behind this one): then its headers are timed.
        self._watch(arrived=bool(self.conn.trailing_data[0]))

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._upgraded = True
        self._stop()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()
        super().connection_lost(exc)

    def _watch(self, *, arrived: bool) -> None:
        """Start, move or stop the deadline for the request part now awaited."""
        if self._upgraded or self.transport.is_closing():
            self._stop()
            return
        state = self.conn.their_state
        now = self.loop.time()
        if state is h11.IDLE:
            if self._phase != "headers" and arrived:
                self._arm("headers", now + self.header_timeout)
        elif state is h11.SEND_BODY:
            if self._phase != "body":
                self._body_deadline = now + self.body_timeout
                self._arm("body", min(now + self.header_timeout, self._body_deadline))
            elif arrived:  # progress: the pause allowed starts again
                self._arm("body", min(now + self.header_timeout, self._body_deadline))
        else:
            self._stop()

    def _arm(self, phase: str, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._phase = phase
        self._timer = self.loop.call_at(when, self._expired)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._phase = None

    def _expired(self) -> None:
        phase, self._timer = self._phase, None
        self._phase = None
        if self._upgraded or self.transport.is_closing():
            return
        if phase == "body" and self.flow.read_paused:
            # uvicorn stopped reading until the app catches up: not the client's delay.
            self._arm("body", self.loop.time() + self.header_timeout)
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        log.info("closing %s: its request %s did not arrive in time", client, phase)
        if phase == "headers":
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        self.transport.close()


def http_protocol(*, header_timeout: float, body_timeout: float
                  ) -> type[GuardedH11Protocol]:
    """The protocol class to serve with (``uvicorn.Config(http=...)``), with these
    deadlines in seconds."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout": header_timeout, "body_timeout": body_timeout})


async def client_disconnected(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for :class:`ClientDisconnect`: the body stopped
    because the client went away or was cut off here; nobody reads the answer, and it
    is no server error to log with a traceback."""
    assert isinstance(exc, ClientDisconnect)
    return Response(status_code=408)
