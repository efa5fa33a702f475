"""Engine set-up per dialect. One :class:`Database` per process, opened in the app lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


class Database:
    """Owns the engine and hands out sessions.

    On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so two writers never
    deadlock upgrading a read lock (SQLITE_BUSY is then handled by ``busy_timeout``);
    reads use a plain deferred ``BEGIN`` and, under WAL, never wait for writers.

    Writers of one process also take turns on an asyncio lock (:meth:`write_turn`):
    SQLite admits one writer at a time anyway, and its busy handler waits by sleeping
    (1 ms growing to 100 ms), so writers contending inside the database queue up in
    sleeps, not in order (docs/performance.md, scenario d).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _install_sqlite_hooks(self.engine)
            self._write_engine = self.engine.execution_options(tsunagu_write=True)
        else:
            self._write_engine = self.engine
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)
        # One lock per event loop (tests run set-up on loops of their own).
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                                     asyncio.Lock] = (
            weakref.WeakKeyDictionary())

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write_sessions if write else self._read_sessions)()

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
        async with lock:
            yield

    async def dispose(self) -> None:
        await self.engine.dispose()


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below emit BEGIN itself (pysqlite quirk).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("tsunagu_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
