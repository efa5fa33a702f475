"""What each engine's connections get, by dialect: SQLite's pragmas and its BEGIN
(``BEGIN IMMEDIATE`` for writes, straight on sqlite3 where the connection is inline),
PostgreSQL's lazy pings and the send's array types learnt at connect, and on every
engine the errors counted and the pool's waits timed. :class:`chat.store.db.Database`
installs them on the engines it makes."""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from chat.store import sqlite_inline

if TYPE_CHECKING:
    from chat.metrics import Metrics


def instrument(engine: AsyncEngine, metrics: Metrics) -> None:
    """Count the driver's errors by kind, and time each wait for a pooled connection.

    SQLAlchemy's pool has events for a checkout but none before it, so the pool's own
    ``_do_get`` (what a checkout waits in: a free connection, a new one, or a queue when
    the pool is exhausted) is wrapped, on this engine's pool instance only."""
    sync_engine = engine.sync_engine
    errors = metrics.db_error

    @event.listens_for(sync_engine, "handle_error")
    def _count_error(context: Any) -> None:
        errors(error_kind(context.sqlalchemy_exception, disconnect=context.is_disconnect))

    pool = sync_engine.pool
    get = pool._do_get
    waited = metrics.db_wait["pool"].observe

    def timed_get() -> Any:
        asked = time.perf_counter()
        try:
            return get()
        finally:
            waited(time.perf_counter() - asked)

    pool._do_get = timed_get  # type: ignore[method-assign]


def error_kind(error: Exception, *, disconnect: bool) -> str:
    """The ``kind`` label of ``tsunagu_db_errors_total`` (docs/monitoring.md)."""
    return ("disconnect" if disconnect
            else "integrity" if isinstance(error, IntegrityError)
            else "operational" if isinstance(error, OperationalError) else "other")


# The array types a send binds (sends._LOOK_UP, messages._INSERT_SENT, the audit seal).
_SEND_ARRAY_TYPES = ("BIGINT", "VARCHAR", "TEXT", "INTEGER", "TIMESTAMP WITH TIME ZONE")
_ARRAY_TYPES_PROBE = "SELECT " + ", ".join(
    f"CAST(${n} AS {name}[])" for n, name in enumerate(_SEND_ARRAY_TYPES, start=1))


def array_types_known_at_connect(engine: AsyncEngine) -> None:
    """Have asyncpg learn the send's array types when a connection opens, not in the
    connection's first send. asyncpg reads an array type's definition from the server's
    catalogue the first time a connection binds it: the first send on a connection did
    so twice (a query of the catalogue each, ~3 ms planning it on a new backend), in the
    middle of a batch that the sends behind it wait for."""
    @event.listens_for(engine.sync_engine.pool, "connect")
    def _learn_array_types(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_ARRAY_TYPES_PROBE, tuple([] for _ in _SEND_ARRAY_TYPES))
        finally:
            cursor.close()
        dbapi_connection.rollback()  # the adapter began a transaction for the probe


def ping_when_idle(engine: AsyncEngine, *, after_seconds: float) -> None:
    """Check a pooled connection before use if it sat unused for ``after_seconds``: one
    a server restart or a firewall's idle timeout cut is replaced, not handed out.

    SQLAlchemy's ``pool_pre_ping`` checks every checkout, and on asyncpg a check is three
    round trips (BEGIN, an empty query, ROLLBACK): more than a short read itself costs.
    A connection that was in use moments ago is all but certainly alive; a restart that
    catches it anyway fails that one transaction, as it fails those in flight."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["tsunagu.returned_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _maybe_ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("tsunagu.returned_at")
        if returned is None or time.monotonic() - returned < after_seconds:
            return  # new (just opened) or recently used
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and checks out another.
            raise DisconnectionError(f"pooled connection lost: {error}") from error


def open_quick_reader(path: str) -> sqlite3.Connection:
    """The connection of :meth:`chat.store.db.Database.read_now`: autocommit (each statement its own
    snapshot), read-only, and never waiting: under WAL a read does not wait for a
    writer, and a busy refusal (a WAL reset in progress) is raised like any fault."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("PRAGMA query_only=ON", "PRAGMA busy_timeout=100"):
        connection.execute(pragma)
    return connection


def install_sqlite_hooks(engine: AsyncEngine, *, inline: bool, busy_timeout: float,
                         read_only: bool = False) -> None:
    """Every SQLite connection's pragmas (WAL, foreign keys; on the inline connections
    no busy wait and no automatic checkpoint), and BEGIN as the write or read needs it:
    ``BEGIN IMMEDIATE`` for a write (``tsunagu_write``), straight on sqlite3 where the
    connection is inline (chat/store/sqlite_inline.py)."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not inline:
            # Let SQLAlchemy's "begin" hook below emit BEGIN itself (pysqlite quirk);
            # the inline connection is opened that way.
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        if inline:
            # Busy waits are asyncio sleeps; checkpoints run on a reader's thread.
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
        else:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("tsunagu_write", False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        driver = conn.connection.driver_connection
        if isinstance(driver, sqlite_inline.InlineConnection) and (
                driver.in_transaction      # begun by Database.inline_write (chat.store.db)
                or driver.begin_at_once(statement)):
            return
        conn.exec_driver_sql(statement)
