"""A loopback TCP proxy a test controls: put it between a node and Redis or PostgreSQL,
then freeze it (the service hangs: nothing is forwarded either way, connections stay
open, new ones are accepted and hang too) and thaw it (everything held goes on). The
shared Redis and PostgreSQL are never stopped; only this node's path to them is.

It runs on an event loop of its own, in a thread, so it keeps forwarding while the test's
loop waits on something else."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any

_CHUNK = 65536

# Called with the bytes each way of one connection (to the server, to the client) before
# they are forwarded: a protocol reader (tests/support/pg_wire.py).
Tap = Callable[[], tuple[Callable[[bytes], None], Callable[[bytes], None]]]


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *,
                 tap: Tap | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._tap = tap
        self._loop = asyncio.new_event_loop()
        self._thawed = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port: int = sock.getsockname()[1]
        self._sock = sock
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def url_for(self, url: str) -> str:
        """``url`` (redis:// or a SQLAlchemy URL) with its host and port replaced by ours."""
        from sqlalchemy.engine import make_url

        if url.startswith(("redis://", "rediss://")):
            scheme, rest = url.split("://", 1)
            path = rest.split("/", 1)[1] if "/" in rest else ""
            return f"{scheme}://127.0.0.1:{self.port}/{path}"
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(
            hide_password=False)

    def freeze(self) -> None:
        """Stop forwarding, both ways, on every connection, old and new."""
        self._loop.call_soon_threadsafe(self._thawed.clear)

    def thaw(self) -> None:
        """Forward again, what was held first."""
        self._loop.call_soon_threadsafe(self._thawed.set)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._thawed.set()
        self._server = await asyncio.start_server(self._accepted, sock=self._sock)

    async def _stop(self) -> None:
        self._thawed.set()                  # let held pumps finish
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accepted(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._thawed.wait()   # a frozen service does not answer a connect either
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        to_server, to_client = self._tap() if self._tap else (None, None)
        await asyncio.gather(self._pump(reader, up_writer, to_server),
                             self._pump(up_reader, writer, to_client))
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    tap: Callable[[bytes], None] | None = None) -> None:
        try:
            while data := await reader.read(_CHUNK):
                await self._thawed.wait()
                if tap is not None:
                    tap(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
