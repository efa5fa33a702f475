"""Which database failures mean "the store cannot take this right now": the one place
that maps them to :class:`chat.errors.StorageUnavailable` (docs/protocol.md#faults).

Such a failure is not the request's fault and not a bug: the disk is full, the file
cannot be read or written, another process holds the lock too long, a statement or lock
timeout passed, the connection to PostgreSQL broke or the pool had none free. Nothing of
the transaction was kept (it rolled back), so the client may send the same request again
later; a send keeps its client id and is stored once. Anything else stays an internal
error (a bug to look at).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

from chat.errors import StorageUnavailable

#: How long a client waits before it sends again, unless the fault says otherwise.
RETRY_AFTER_MS = 2000

# SQLite's primary result codes (the low byte of the extended code) that mean the store
# is unavailable for now: SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY, SQLITE_LOCKED,
# SQLITE_CANTOPEN.
_SQLITE_UNAVAILABLE = {sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY,
                       sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN}
_SQLITE_MESSAGES = ("database or disk is full", "disk i/o error", "database is locked",
                    "database table is locked", "unable to open database file")

# PostgreSQL SQLSTATEs (Appendix A): class 08 connection exception, class 53
# insufficient resources (disk full, out of memory, too many connections), 57014
# query_canceled (statement_timeout), 57P01-57P03 the server shutting down or starting,
# 55P03 lock_not_available (lock_timeout), 25P03 idle_in_transaction_session_timeout.
_PG_CLASSES = ("08", "53")
_PG_STATES = {"57014", "57P01", "57P02", "57P03", "55P03", "25P03"}


def storage_fault(error: BaseException) -> StorageUnavailable | None:
    """The retryable error to answer with when ``error`` means the store is unavailable
    right now; None for any other failure (which stays an internal error)."""
    if isinstance(error, StorageUnavailable):
        return error
    if _unavailable(error):
        return StorageUnavailable(retry_after_ms=RETRY_AFTER_MS)
    return None


def _unavailable(error: BaseException) -> bool:
    if isinstance(error, sa_exc.TimeoutError):          # the pool had no connection free
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        return error.orig is not None and _unavailable(error.orig)
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in _SQLITE_UNAVAILABLE
        return any(text in str(error).lower() for text in _SQLITE_MESSAGES)
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if isinstance(state, str):
        return state[:2] in _PG_CLASSES or state in _PG_STATES
    cause = error.__cause__
    if cause is not None and cause is not error:
        # asyncpg's own errors, wrapped by SQLAlchemy's adapter; a connection that broke
        # or timed out under the driver.
        return isinstance(cause, (ConnectionError, TimeoutError)) or _unavailable(cause)
    return False
