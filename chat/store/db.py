"""Engine set-up per dialect. One :class:`Database` per process, opened in the app lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from chat.store import engine_hooks, sqlite_inline

if TYPE_CHECKING:
    from chat.metrics import Metrics

log = logging.getLogger(__name__)

# How often, at most, a node copies SQLite's write-ahead log back into the database
# (the inline write connection never does it itself: it would stall the event loop).
CHECKPOINT_EVERY_SECONDS = 1.0
# How long a SQLite writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_SECONDS = 30
# A pooled PostgreSQL connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 10.0


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long a serving node's PostgreSQL work may take before it is given up (and the
    request answered with the retryable ``storage_unavailable``, chat.store.faults): a
    statement, a wait for a lock, a wait for a pooled connection; long work (snapshot
    reads, bulk writes: exports, verification, the purge, imports) gets
    ``bulk_statement_seconds`` for both of the first two, per transaction. Without them
    (the CLI) nothing is limited."""

    statement_seconds: float
    lock_seconds: float
    pool_seconds: float
    bulk_statement_seconds: float

    def server_settings(self) -> dict[str, str]:
        """asyncpg's ``server_settings``: set once per connection, in its start-up."""
        return {"statement_timeout": str(round(self.statement_seconds * 1000)),
                "lock_timeout": str(round(self.lock_seconds * 1000))}

    def long_work_statements(self) -> tuple[str, ...]:
        """What a long transaction runs first (``SET LOCAL``: until its end only)."""
        ms = round(self.bulk_statement_seconds * 1000)
        return (f"SET LOCAL statement_timeout = {ms}", f"SET LOCAL lock_timeout = {ms}")


#: Run on a database connection (the DB-API connection SQLAlchemy's adapter gives, whose
#: cursors execute synchronously) each time the pool hands it out.
ConnectionSetup = Callable[[Any], None]


class Database:
    """Owns the engine and hands out sessions.

    On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so two writers never
    deadlock upgrading a read lock; reads use a plain deferred ``BEGIN`` and, under WAL,
    never wait for writers. Short write transactions run on the event loop's thread
    (``sqlite_inline``: another process's lock is waited for in asyncio sleeps); reads,
    bulk writes and the WAL checkpoints that follow writes (:meth:`_after_write_commit`)
    run on aiosqlite's threads, where SQLite's busy handler waits.

    Writers of one process also take turns on an asyncio lock (:meth:`write_turn`):
    SQLite admits one writer at a time anyway, and its busy handler waits by sleeping
    (1 ms growing to 100 ms), so writers contending inside the database queue up in
    sleeps, not in order (docs/performance.md, scenario d).
    """

    def __init__(self, url: str, *, echo: bool = False,
                 ping_after_idle_seconds: float = PING_AFTER_IDLE_SECONDS,
                 metrics: Metrics | None = None,
                 connection_setup: ConnectionSetup | None = None,
                 timeouts: DatabaseTimeouts | None = None) -> None:
        self.url = url
        self._metrics = metrics
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        file = parsed.database if parsed.database != ":memory:" else None
        if self.dialect == "sqlite":
            if file:
                Path(file).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_SECONDS}
        else:
            # Last in, first out: the connection handed out is the one used last, so a
            # node's steady traffic stays on a few warm backends (statements prepared,
            # plans cached, not idle long enough to need a ping) instead of going round
            # all of them in turn, each paying its first use (docs/store.md, "Pooled
            # connections").
            kwargs.update(pool_size=10, max_overflow=20, pool_use_lifo=True)
            if timeouts is not None:
                kwargs.update(pool_timeout=timeouts.pool_seconds, connect_args={
                    "server_settings": timeouts.server_settings(),
                    "timeout": timeouts.pool_seconds})      # asyncpg's connect timeout
        #: SQL a long transaction runs first (PostgreSQL with timeouts; else empty).
        self.long_work_statements: tuple[str, ...] = (
            timeouts.long_work_statements()
            if timeouts is not None and self.dialect == "postgresql" else ())
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        # SQLite only: the engine of short writes on the loop's thread.
        self._inline_engine: AsyncEngine | None = None
        self._inline_read_engine: AsyncEngine | None = None
        write_engine = bulk_write_engine = short_read_engine = self.engine
        if self.dialect == "postgresql":
            engine_hooks.ping_when_idle(self.engine, after_seconds=ping_after_idle_seconds)
            engine_hooks.array_types_known_at_connect(self.engine)
            # READ COMMITTED gives each statement a snapshot of its own anyway: a short
            # read without BEGIN and COMMIT reads the same and spares two round trips.
            short_read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        if self.dialect == "sqlite":
            engine_hooks.install_sqlite_hooks(self.engine, inline=False,
                                              busy_timeout=BUSY_TIMEOUT_SECONDS)
            write_engine = bulk_write_engine = self.engine.execution_options(
                tsunagu_write=True)
            if file:
                self._inline_engine = create_async_engine(
                    url, echo=echo, pool_size=1, max_overflow=8,
                    async_creator=sqlite_inline.connector(
                        file, busy_timeout=BUSY_TIMEOUT_SECONDS,
                        on_error=self._count_error))
                engine_hooks.install_sqlite_hooks(self._inline_engine, inline=True,
                                                  busy_timeout=BUSY_TIMEOUT_SECONDS)
                event.listen(self._inline_engine.sync_engine, "commit",
                             self._after_write_commit)
                write_engine = self._inline_engine.execution_options(tsunagu_write=True)
                # Short reads on the loop's thread too, on connections of their own that
                # cannot write (``query_only``); under WAL they never wait for a writer.
                self._inline_read_engine = create_async_engine(
                    url, echo=echo, pool_size=2, max_overflow=16,
                    async_creator=sqlite_inline.connector(
                        file, busy_timeout=BUSY_TIMEOUT_SECONDS,
                        on_error=self._count_error))
                engine_hooks.install_sqlite_hooks(self._inline_read_engine, inline=True,
                                                  busy_timeout=BUSY_TIMEOUT_SECONDS,
                                                  read_only=True)
                short_read_engine = self._inline_read_engine
        if connection_setup is not None:
            for engine in {self.engine, self._inline_engine, self._inline_read_engine}:
                if engine is not None:
                    event.listen(engine.sync_engine.pool, "checkout",
                                 lambda dbapi, _record, _proxy: connection_setup(dbapi))
        self._connection_setup = connection_setup
        # SQLite file only: per event loop, the write connection held between write
        # transactions (:meth:`inline_write`).
        self._inline_write_engine = write_engine if self._inline_engine is not None else None
        self._held_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                      _HeldWriter] = (
            weakref.WeakKeyDictionary())
        self._inline_pools = {inline.sync_engine.pool for inline in (
            self._inline_engine, self._inline_read_engine) if inline is not None}
        self._short_read_engine = short_read_engine
        # SQLite file only: the connection of :meth:`read_now`, opened on first use.
        self._sqlite_file = file if self.dialect == "sqlite" else None
        self._quick_reader: sqlite3.Connection | None = None
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._short_read_sessions = async_sessionmaker(short_read_engine,
                                                       expire_on_commit=False)
        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self._bulk_write_sessions = async_sessionmaker(bulk_write_engine,
                                                       expire_on_commit=False)
        # One lock per event loop (tests run set-up on loops of their own).
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                     asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        self._last_checkpoint = time.monotonic()
        self._checkpoint: asyncio.Task[None] | None = None
        if metrics is not None:
            for engine in (self.engine, self._inline_engine, self._inline_read_engine):
                if engine is not None:
                    engine_hooks.instrument(engine, metrics)

    def session(self, *, write: bool, bulk: bool = False, short: bool = False
                ) -> AsyncSession:
        """A session for reads, short writes, or ``bulk`` writes (a purge batch, an
        import: on SQLite these run on a database thread, not on the event loop's).

        ``short`` (reads only): a few indexed look-ups (the session check, a connect's
        snapshot). On a SQLite file they run on the loop's thread: a read on aiosqlite's
        thread costs ~1 ms of hops and set-up for tens of µs of SQLite's work
        (docs/performance.md, scenario c). A read that may scan stays off the loop."""
        if not write:
            return (self._short_read_sessions if short else self._read_sessions)()
        return (self._bulk_write_sessions if bulk else self._write_sessions)()

    def _count_error(self, failure: Exception) -> None:
        """Count an error raised outside SQLAlchemy's execution (SQLite's inline
        statements, BEGIN and COMMIT, :meth:`read_now`), as ``handle_error`` counts the
        others (:func:`chat.store.engine_hooks.instrument`)."""
        if self._metrics is not None:
            self._metrics.db_error(engine_hooks.error_kind(failure, disconnect=False))

    async def read_now(self, statement: sqlite_inline.InlineStatement,
                       values: Mapping[str, Any]) -> list[Any]:
        """The rows of a read of a few indexed rows, without a session: what a node's
        periodic polls ask (the bus outbox four times a second, the revocation sweep
        every second) whether or not anything happened.

        Through a session such a read cost ~1 ms of CPU on the benchmark machine (a
        session, a transaction, a pooled connection, ORM result set-up) for ~20 µs of the
        database's work, so an idle node spent most of its background CPU there
        (docs/performance.md, scenario h). On a SQLite file it runs here on a connection
        of its own (``query_only``, on the loop's thread: under WAL a reader never waits
        for a writer); on PostgreSQL as one Core statement on the autocommit engine,
        with no BEGIN or COMMIT. One statement is one snapshot, as in a transaction."""
        if self._quick_reader is None and self._sqlite_file is not None:
            self._quick_reader = engine_hooks.open_quick_reader(self._sqlite_file)
        if self._quick_reader is not None:
            sql, parameters = statement.bind(values)
            try:
                return self._quick_reader.execute(sql, parameters).fetchall()
            except sqlite3.Error as error:
                failure = DBAPIError.instance(sql, parameters, error, sqlite3.Error)
                self._count_error(failure)
                raise failure from error
        async with self._short_read_engine.connect() as connection:
            return list((await connection.execute(statement.statement, values)).all())

    @property
    def inline_writes(self) -> bool:
        """Whether short writes run as :meth:`inline_write` (a SQLite file)."""
        return self._inline_write_engine is not None

    @contextlib.asynccontextmanager
    async def inline_write(self) -> AsyncIterator[AsyncSession]:
        """A short write transaction on SQLite's inline connection (a SQLite file only;
        inside :meth:`write_turn`), committed on exit, rolled back on error, and a session
        on it for whatever needs the ORM.

        Through a session of its own, a transaction cost ~300 µs of SQLAlchemy's CPU
        beside its statements (a pool checkout and check-in, a connection object and its
        events, the session's transaction, BEGIN and COMMIT through the adapter): a lone
        send's transaction is about a quarter of its CPU. Here the connection stays
        checked out between transactions (one per event loop: writers take turns
        anyway), BEGIN IMMEDIATE and COMMIT run straight on sqlite3, and the
        repositories' :class:`~chat.store.sqlite_inline.InlineStatement` calls find the
        connection without asking the session. The session handed out is bound to the
        held connection and begins nothing until the ORM is used (a resend's messages,
        a reply's quote, an upload claimed): its statements then run in this same
        transaction (the begin hook sees sqlite3 in one already), and it commits it.
        """
        held = await self._held_writer()
        inline = held.inline
        setup = self._connection_setup
        if setup is not None:       # as on each checkout (in SQLAlchemy's greenlet)
            await held.connection.run_sync(lambda _sync: setup(held.dbapi))
        try:
            await inline.begin_immediate()
        except sqlite3.Error as error:
            await self._drop_held_writer()
            raise inline.failed("BEGIN IMMEDIATE", (), error) from error
        session = AsyncSession(bind=held.connection, expire_on_commit=False)
        sqlite_inline.mark_inline(session, inline)
        try:
            yield session
            if _orm_used(session):
                await session.commit()      # flushes; the inline engine's hook checkpoints
                # Its objects detached, as a closed session's are: nothing loaded here
                # may query later on the held connection, in another's transaction.
                await session.close()
            else:
                try:
                    await inline.commit()
                except sqlite3.Error as error:
                    raise inline.failed("COMMIT", (), error) from error
                self._after_write_commit(None)
        except BaseException:
            # Leave nothing half-done on the held connection: roll back on sqlite3 (sync,
            # so a cancellation cannot stop it), then let the pool have the connection
            # back (SQLAlchemy's own transaction, if the ORM began one, ends there).
            inline.abandon()
            session.expunge_all()
            await self._drop_held_writer()
            raise

    async def _held_writer(self) -> _HeldWriter:
        loop = asyncio.get_running_loop()
        held = self._held_writers.get(loop)
        if held is None:
            assert self._inline_write_engine is not None
            connection = await self._inline_write_engine.connect()
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, sqlite_inline.InlineConnection)
            held = self._held_writers[loop] = _HeldWriter(connection, driver,
                                                          raw.dbapi_connection)
        return held

    async def _drop_held_writer(self) -> None:
        held = self._held_writers.pop(asyncio.get_running_loop(), None)
        if held is not None:
            await held.connection.close()

    async def close(self, session: AsyncSession) -> None:
        """Close ``session`` (from :meth:`session`), its connection back in the pool.

        SQLAlchemy's ``async with`` closes a session in a task of its own, shielded, so
        a cancellation cannot abandon the close half-way: ~100 Python calls and two
        turns of the loop for every transaction. On SQLite's inline connections nothing
        in a close waits, so a cancellation cannot land in it: those close here."""
        if session.bind is not None and session.bind.sync_engine.pool in self._inline_pools:
            await session.close()
        else:
            await session.__aexit__(None, None, None)

    @contextlib.asynccontextmanager
    async def write_turn(self, *, write: bool) -> AsyncIterator[None]:
        """Hold this process's SQLite writer turn for a write transaction (a no-op for
        reads and on PostgreSQL, whose row locks order writers). Never nest two."""
        if not write or self.dialect != "sqlite":
            yield
            return
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            lock = self._write_locks[loop] = asyncio.Lock()
        if self._metrics is None:
            async with lock:
                yield
            return
        asked = time.perf_counter()
        async with lock:
            self._metrics.db_wait["sqlite_writer_turn"].observe(time.perf_counter() - asked)
            yield

    def _after_write_commit(self, _connection: Any) -> None:
        """Start a passive WAL checkpoint on a reader's thread, at most once a
        :data:`CHECKPOINT_EVERY_SECONDS`: it copies committed pages back into the
        database file without blocking writers or readers, and keeps the log short."""
        now = time.monotonic()
        if self._checkpoint is not None or now - self._last_checkpoint < (
                CHECKPOINT_EVERY_SECONDS):
            return
        self._last_checkpoint = now
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:            # committed outside an event loop
            return
        self._checkpoint = loop.create_task(self.checkpoint(), name="wal checkpoint")
        self._checkpoint.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, task: asyncio.Task[None]) -> None:
        self._checkpoint = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("WAL checkpoint failed: %s", task.exception())

    async def checkpoint(self) -> None:
        """``PRAGMA wal_checkpoint(PASSIVE)`` on a reader connection (SQLite only)."""
        if self.dialect != "sqlite":
            return
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    async def dispose(self) -> None:
        running = self._checkpoint
        if running is not None and running.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(running)
        for held in list(self._held_writers.values()):
            await held.connection.close()
        self._held_writers.clear()
        if self._quick_reader is not None:
            self._quick_reader.close()
            self._quick_reader = None
        for inline in (self._inline_engine, self._inline_read_engine):
            if inline is not None:
                await inline.dispose()
        await self.engine.dispose()


@dataclass(frozen=True)
class _HeldWriter:
    """The inline write connection an event loop keeps between write transactions."""

    connection: AsyncConnection
    inline: sqlite_inline.InlineConnection
    dbapi: Any      # what :data:`ConnectionSetup` is given


def _orm_used(session: AsyncSession) -> bool:
    """Whether ``session`` began its transaction or holds changes to flush."""
    return bool(session.in_transaction() or session.new or session.dirty or session.deleted)
