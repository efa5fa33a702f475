"""The round trips a PostgreSQL client makes, read off the wire by a :class:`TcpProxy`.

A test (or a measurement) puts :class:`RoundTrips` between a node and PostgreSQL and
reads, for any stretch of work, each round trip the client made and the statements it
carried: the client's messages from when it speaks until the server has answered and the
client speaks again. Read from the protocol itself (PostgreSQL's frontend/backend
protocol v3, https://www.postgresql.org/docs/15/protocol-message-formats.html), so
nothing is missed that the driver sends outside SQLAlchemy (asyncpg's BEGIN, a prepare,
the column-array inserts of ``chat/store/pg_arrays.py``).

The node must connect without TLS (``?ssl=disable``): the proxy reads plain text.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable

from tests.support.proxy import TcpProxy

_SSL_REQUEST = 80877103


class RoundTrips:
    """Every round trip of every connection through the proxy, in order; a round trip
    is a list of what the client asked in it (``"BEGIN"``, a statement's SQL, ``"prepare
    …"``)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.proxy = TcpProxy(upstream_host, upstream_port, tap=self._connection)
        self._lock = threading.Lock()
        self.trips: list[list[str]] = []

    def start(self) -> RoundTrips:
        self.proxy.start()
        return self

    def stop(self) -> None:
        self.proxy.stop()

    def url_for(self, url: str) -> str:
        """``url`` through the proxy, without TLS."""
        return self.proxy.url_for(url) + "?ssl=disable"

    def mark(self) -> int:
        with self._lock:
            return len(self.trips)

    def since(self, mark: int) -> list[list[str]]:
        with self._lock:
            return [list(trip) for trip in self.trips[mark:]]

    def _connection(self) -> tuple[Callable[[bytes], None], Callable[[bytes], None]]:
        state = _Connection(self)
        return state.from_client, state.from_server


class _Connection:
    def __init__(self, log: RoundTrips) -> None:
        self.log = log
        self.buffer = b""
        self.started = False      # the startup message is untyped
        self.answered = True      # the server spoke since the client last did
        self.trip: list[str] | None = None
        self.statements: dict[str, str] = {}

    def from_server(self, data: bytes) -> None:
        self.answered = True

    def from_client(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    return
                size, code = struct.unpack("!ii", self.buffer[:8])
                if len(self.buffer) < size:
                    return
                self.buffer = self.buffer[size:]
                self.started = code != _SSL_REQUEST
                continue
            if len(self.buffer) < 5:
                return
            kind = self.buffer[:1]
            size = struct.unpack("!i", self.buffer[1:5])[0]
            if len(self.buffer) < 1 + size:
                return
            body, self.buffer = self.buffer[5:1 + size], self.buffer[1 + size:]
            self._message(kind, body)

    def _message(self, kind: bytes, body: bytes) -> None:
        asked = None
        if kind == b"Q":
            asked = _text(body)
        elif kind == b"P":
            name, rest = body.split(b"\0", 1)
            sql = _text(rest)
            self.statements[name.decode()] = sql
            asked = f"prepare {sql}"
        elif kind == b"B":
            _portal, statement, _ = body.split(b"\0", 2)
            asked = self.statements.get(statement.decode(), "?")
        if asked is None:
            return
        with self.log._lock:
            if self.answered or self.trip is None:
                self.trip = []
                self.log.trips.append(self.trip)
                self.answered = False
            if not self.trip or self.trip[-1] != asked:  # executemany: one entry
                self.trip.append(asked)


def _text(body: bytes) -> str:
    return body.split(b"\0", 1)[0].decode()
