"""SQLite statements run on the event loop's own thread, for short transactions.

aiosqlite runs every call on a thread of its own: a statement costs SQLAlchemy's
adapter four hops (cursor, execute, fetch, close) between that thread and the event
loop, ~270 µs of CPU on our 2-core machine against ~1 µs for the statement itself.
A send's transaction is about ten statements, so the hops were most of a message's
latency (docs/performance.md, scenario a).

:class:`InlineConnection` offers the part of aiosqlite's interface that SQLAlchemy's
``sqlite+aiosqlite`` dialect uses, but calls :mod:`sqlite3` directly: each awaitable
completes at once, so a statement costs no hop. :class:`chat.store.db.Database` uses
it for write transactions (short, and serialised by SQLite anyway) and for short reads
(``unit_of_work(..., short=True)``, on ``query_only`` connections of their own); other
reads stay on aiosqlite's threads, so a long search never holds up the loop. Nothing here waits
inside SQLite: the connection's busy timeout is zero, and a statement SQLite refuses
as busy (another process holds the write lock) is retried after an ``asyncio.sleep``,
so the loop goes on serving everyone else meanwhile, up to ``busy_timeout`` seconds.
Automatic WAL checkpoints are off on this connection (a checkpoint writes pages back
and syncs); :meth:`chat.store.db.Database.checkpoint` runs them on a reader's thread.

The send path's own statements skip SQLAlchemy's execution too (:class:`InlineStatement`):
through an ``AsyncSession`` a statement costs 100–220 µs of CPU here (a greenlet per
call, the execution context, result set-up, bind processing row by row) against 2–3 µs
in sqlite3, and a lone send runs about ten. A repository compiles its Core statement —
the one PostgreSQL runs through SQLAlchemy — once for SQLite and, inside a write
transaction on this connection (:func:`inline_connection`), runs it here directly with
each column's own bind processing.

An insert made with :meth:`InlineStatement.insert` also carries its PostgreSQL form, one
statement over column arrays (chat/store/pg_arrays.py), so :func:`execute_each` and
:func:`insert_rows` pick the fastest way for whichever database the session is on and
the repositories never choose.

One statement a send runs is SQLite's work more than Python's: indexing the new
messages' text for search (alembic 0009), ~0.2 ms a message. :func:`execute_off_loop`
hands such a statement to a worker thread, in the same transaction: SQLite releases the
GIL while it works, so the loop goes on serving everyone meanwhile.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from chat.store.pg_arrays import ArrayInsert

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

    def __init__(self, conn: sqlite3.Connection, *, busy_timeout: float,
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._busy_timeout = busy_timeout
        self._on_error = on_error

    def failed(self, sql: str, parameters: Any, error: sqlite3.Error) -> Exception:
        """What SQLAlchemy would raise for ``error`` (callers catch its IntegrityError),
        reported to ``on_error`` first: what runs here bypasses SQLAlchemy's execution,
        and with it the ``handle_error`` event that counts the driver's errors (a full
        disk refusing a send's insert or its COMMIT must still show in the metrics)."""
        failure = _as_sqlalchemy_error(sql, parameters, error)
        if self._on_error is not None:
            self._on_error(failure)
        return failure

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

    @property
    def in_transaction(self) -> bool:
        return self._live.in_transaction

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    def begin_at_once(self, statement: str) -> bool:
        """Run ``statement`` (``BEGIN`` or ``BEGIN IMMEDIATE``) straight on sqlite3; False
        if SQLite refused it (busy, say), for the caller to run it the usual way, which
        waits. Through SQLAlchemy a BEGIN costs as much as any statement (~0.1 ms of
        CPU), and every transaction runs one."""
        try:
            self._live.execute(statement)
        except sqlite3.Error:
            return False
        return True

    async def run(self, statement: InlineStatement, values: Mapping[str, Any]
                  ) -> list[Any]:
        """Run ``statement`` with ``values`` (by parameter name); its rows, if any."""
        sql, parameters = statement.bind(values)
        try:
            cursor = await self._retry_busy(self._live.execute, sql, parameters)
            rows: list[Any] = cursor.fetchall()
        except sqlite3.Error as error:
            raise self.failed(sql, parameters, error) from error
        return rows

    async def run_many(self, statement: InlineStatement,
                       rows: Iterable[Mapping[str, Any]]) -> None:
        """Run ``statement`` once per row (sqlite3's executemany: prepared once)."""
        if statement.expands:
            raise ValueError("an expanding IN differs row by row: use run() for each")
        bound = [statement.bind(values)[1] for values in rows]
        if not bound:
            return
        try:
            await self._retry_busy(self._live.executemany, statement.sql, bound)
        except sqlite3.Error as error:
            raise self.failed(statement.sql, bound, error) from error

    async def run_off_loop(self, statement: InlineStatement,
                           values: Mapping[str, Any]) -> None:
        """Run ``statement`` (no rows) on the worker thread, the loop free meanwhile.

        The transaction is this connection's, which nothing else uses until this
        returns; if the caller is cancelled, it still waits for the statement to end, so
        a rollback never meets it half-way."""
        sql, parameters = statement.bind(values)
        done = asyncio.get_running_loop().run_in_executor(
            _worker(), self._live.execute, sql, parameters)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            await asyncio.wait([done])
            raise
        except sqlite3.Error as error:
            raise self.failed(sql, parameters, error) from error

    async def begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE`` straight on sqlite3, a busy database retried in asyncio
        sleeps (:meth:`chat.store.db.Database.inline_write`)."""
        await self._retry_busy(self._live.execute, "BEGIN IMMEDIATE")

    def abandon(self) -> None:
        """Roll back whatever transaction is open, at once (no await: a cancellation
        cannot stop it half-way); nothing if none is, or the connection is closed."""
        if self._conn is not None and self._conn.in_transaction:
            self._conn.rollback()

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


def connector(path: str, *, busy_timeout: float,
              on_error: Callable[[Exception], None] | None = None) -> Any:
    """An ``async_creator`` for ``create_async_engine`` that opens ``path`` inline;
    ``on_error`` hears of each error of a statement run here (:meth:`InlineConnection.failed`)."""

    async def connect() -> InlineConnection:
        # isolation_level=None: SQLAlchemy's "begin" hook emits BEGIN itself.
        # check_same_thread=False: the pool may close it from another thread at exit.
        # The connection's pragmas (busy_timeout=0, no auto-checkpoint) are set by
        # chat.store.db's connect hook, with every other SQLite connection's.
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        return InlineConnection(conn, busy_timeout=busy_timeout, on_error=on_error)

    return connect


_WORKER: ThreadPoolExecutor | None = None


def _worker() -> ThreadPoolExecutor:
    """The one thread that runs :meth:`InlineConnection.run_off_loop` (one inline write
    transaction runs at a time: SQLite serialises writes)."""
    global _WORKER
    if _WORKER is None:
        _WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-off-loop")
    return _WORKER


def _as_sqlalchemy_error(sql: str, parameters: Any, error: sqlite3.Error) -> Exception:
    """What SQLAlchemy would raise for ``error`` (callers catch its IntegrityError)."""
    return DBAPIError.instance(sql, parameters, error, sqlite3.Error)


_SQLITE = sqlite.dialect()
_INLINE_KEY = "tsunagu.inline_connection"
_INLINE_WRITE_KEY = "tsunagu.inline_write"


class InlineStatement:
    """A Core statement, also compiled once for SQLite to run on an
    :class:`InlineConnection` (:func:`rows_of`, :func:`execute_each`,
    :func:`insert_rows` pick the way).

    Values are bound as SQLAlchemy would bind them (each parameter's type processes it:
    a UTC datetime becomes SQLite's text form), and an expanding ``IN`` takes one ``?``
    per item. Python-side column defaults are not applied: a statement that would need
    them is refused when it is built, so callers pass every column they insert."""

    def __init__(self, statement: Executable, *,
                 column_keys: Sequence[str] | None = None) -> None:
        self.statement = statement  # what every other connection runs, via SQLAlchemy
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(
            dialect=_SQLITE, column_keys=list(column_keys) if column_keys else None))
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("statement needs Python-side defaults: pass those columns")
        self.sql: str = compiled.string
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        binds = compiled.binds
        self._processors = {name: binds[name].type.bind_processor(_SQLITE)
                            for name in self._names}
        self._expanding = {name for name in self._names if binds[name].expanding}
        self.expands = bool(self._expanding)
        # Literal values written into the statement (``id == 1``).
        self._fixed = {name: binds[name].value for name in self._names
                       if not binds[name].required}
        self.arrays: ArrayInsert | None = None  # PostgreSQL's form, for inserts

    @classmethod
    def insert(cls, table: Table, columns: Sequence[str],
               returning: Sequence[str] = ()) -> InlineStatement:
        """An INSERT of ``columns`` into ``table`` (returning ``returning``), that on
        PostgreSQL runs as one statement over column arrays (:class:`ArrayInsert`)."""
        statement = insert(table)
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
        made = cls(statement, column_keys=columns)
        made.arrays = ArrayInsert(table, columns, returning)
        return made

    def bind(self, values: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL (expanding parameters rendered) and its positional parameters."""
        sql = self.sql
        parameters: list[Any] = []
        for name in self._names:
            value: Any = values[name] if name in values else self._fixed[name]
            process = self._processors[name]
            if name in self._expanding:
                items = list(value)
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * len(items)))
                parameters += [process(item) for item in items] if process else items
            else:
                parameters.append(process(value) if process else value)
        return sql, parameters


def mark_inline(session: AsyncSession, connection: InlineConnection) -> None:
    """Tell :func:`inline_connection` that ``session`` is the ORM's way into a write
    transaction run on ``connection`` (chat.store.db.Database.inline_write), so the
    repositories' statements run there without waking the session."""
    session.info[_INLINE_WRITE_KEY] = connection


async def inline_connection(session: AsyncSession) -> InlineConnection | None:
    """The :class:`InlineConnection` under ``session``'s current transaction, or None
    (PostgreSQL, reads, bulk writes): where :class:`InlineStatement` may run."""
    marked = session.info.get(_INLINE_WRITE_KEY)
    if marked is not None:
        return marked  # type: ignore[no-any-return]
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_INLINE_KEY)
    if cached is not None and cached[0] is transaction:
        return cached[1]  # type: ignore[no-any-return]
    found: InlineConnection | None = None
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        found = driver if isinstance(driver, InlineConnection) else None
    session.info[_INLINE_KEY] = (session.sync_session.get_transaction(), found)
    return found


async def rows_of(session: AsyncSession, statement: InlineStatement,
                  values: Mapping[str, Any]) -> Sequence[Any]:
    """``statement``'s rows: straight from the inline connection when ``session`` is on
    it, through SQLAlchemy otherwise."""
    inline = await inline_connection(session)
    if inline is not None:
        return await inline.run(statement, values)
    return (await session.execute(statement.statement, values)).all()


async def execute_each(session: AsyncSession, statement: InlineStatement,
                       rows: Sequence[Mapping[str, Any]]) -> None:
    """Run ``statement`` for each of ``rows`` (none: nothing is run), the same way; an
    insert with a PostgreSQL form runs there as one statement over column arrays."""
    if not rows:
        return
    inline = await inline_connection(session)
    if inline is not None:
        await inline.run_many(statement, rows)
    elif statement.arrays is not None and _on_postgresql(session):
        await statement.arrays.run(session, rows)
    else:
        await session.execute(statement.statement, rows)


async def insert_rows(session: AsyncSession, statement: InlineStatement,
                      rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Run the insert ``statement`` for each of ``rows``; the rows it returns, in the
    rows' order: one prepared statement a row on the inline connection (a row costs
    sqlite3 a few µs, a multi-row statement's parameter processing more), one over
    column arrays on PostgreSQL, a multi-row statement through SQLAlchemy otherwise."""
    if not rows:
        return []
    inline = await inline_connection(session)
    if inline is not None:
        return [row for values in rows for row in await inline.run(statement, values)]
    if statement.arrays is not None and _on_postgresql(session):
        return await statement.arrays.run(session, rows)
    return list((await session.execute(statement.statement, rows)).all())


def _on_postgresql(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def execute_off_loop(session: AsyncSession, statement: InlineStatement,
                           values: Mapping[str, Any]) -> None:
    """Run ``statement`` (SQLite's work, not Python's) on the inline connection's
    worker thread when ``session`` is on it; through SQLAlchemy otherwise (a reader's or
    bulk writer's thread already, or PostgreSQL)."""
    inline = await inline_connection(session)
    if inline is not None:
        await inline.run_off_loop(statement, values)
    else:
        await session.execute(statement.statement, values)
