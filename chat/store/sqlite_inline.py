"""SQLite statements run on the event loop's own thread, for short write transactions.

aiosqlite runs every call on a thread of its own: a statement costs SQLAlchemy's
adapter four hops (cursor, execute, fetch, close) between that thread and the event
loop, ~270 µs of CPU on our 2-core machine against ~1 µs for the statement itself.
A send's transaction is about ten statements, so the hops were most of a message's
latency (docs/performance.md, scenario a).

:class:`InlineConnection` offers the part of aiosqlite's interface that SQLAlchemy's
``sqlite+aiosqlite`` dialect uses, but calls :mod:`sqlite3` directly: each awaitable
completes at once, so a statement costs no hop. :class:`chat.store.db.Database` uses
it only for write transactions (short, and serialised by SQLite anyway); reads stay on
aiosqlite's threads, so a long search never holds up the loop. Nothing here waits
inside SQLite: the connection's busy timeout is zero, and a statement SQLite refuses
as busy (another process holds the write lock) is retried after an ``asyncio.sleep``,
so the loop goes on serving everyone else meanwhile, up to ``busy_timeout`` seconds.
Automatic WAL checkpoints are off on this connection (a checkpoint writes pages back
and syncs); :meth:`chat.store.db.Database.checkpoint` runs them on a reader's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

# A busy refusal is retried after these pauses (the last repeats) until the timeout.
_BUSY_PAUSES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


def _busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or (
        code is None and "locked" in str(error))


class InlineCursor:
    """An aiosqlite-shaped cursor whose coroutines run the statement at once."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._cursor = connection._live.cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> InlineCursor:
        await self._connection._retry_busy(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        rows = list(parameters)     # a retry must see the same rows again
        await self._connection._retry_busy(self._cursor.executemany, sql, rows)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None


class InlineConnection:
    """An aiosqlite-shaped connection over a :class:`sqlite3.Connection` used only from
    the event loop's thread."""

    def __init__(self, conn: sqlite3.Connection, *, busy_timeout: float) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._busy_timeout = busy_timeout

    @property
    def _connection(self) -> sqlite3.Connection | None:
        """What SQLAlchemy's adapter checks before commit and rollback."""
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self._live.isolation_level

    @property
    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    async def _retry_busy(self, call: Any, *args: Any) -> Any:
        deadline = time.monotonic() + self._busy_timeout
        attempt = 0
        while True:
            try:
                return call(*args)
            except sqlite3.OperationalError as error:
                if not _busy(error) or time.monotonic() >= deadline:
                    raise
            await asyncio.sleep(_BUSY_PAUSES[min(attempt, len(_BUSY_PAUSES) - 1)])
            attempt += 1

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def commit(self) -> None:
        await self._retry_busy(self._live.commit)

    async def rollback(self) -> None:
        self._live.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._live.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def connector(path: str, *, busy_timeout: float) -> Any:
    """An ``async_creator`` for ``create_async_engine`` that opens ``path`` inline."""

    async def connect() -> InlineConnection:
        # isolation_level=None: SQLAlchemy's "begin" hook emits BEGIN itself.
        # check_same_thread=False: the pool may close it from another thread at exit.
        # The connection's pragmas (busy_timeout=0, no auto-checkpoint) are set by
        # chat.store.db's connect hook, with every other SQLite connection's.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        return InlineConnection(conn, busy_timeout=busy_timeout)

    return connect
