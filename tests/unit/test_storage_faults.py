"""Which database failures are storage faults (chat.store.faults): the retryable
``storage_unavailable`` for "the store cannot take this now", nothing for a bug."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from chat.errors import StorageUnavailable
from chat.store.faults import RETRY_AFTER_MS, storage_fault


def sqlite_error(statement: str, setup: str = "") -> sqlite3.Error:
    """A real error from SQLite itself, not one made up."""
    conn = sqlite3.connect(":memory:")
    try:
        if setup:
            conn.executescript(setup)
        conn.execute(statement)
    except sqlite3.Error as error:
        return error
    finally:
        conn.close()
    raise AssertionError("no error")


class PgError(Exception):
    """What SQLAlchemy's asyncpg adapter raises: the SQLSTATE as ``sqlstate``."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    return sa_exc.OperationalError("INSERT …", {}, orig)


def test_a_full_sqlite_database_is_a_storage_fault() -> None:
    full = sqlite_error("INSERT INTO t VALUES (randomblob(100000))",
                        "CREATE TABLE t(x); PRAGMA max_page_count = 2;")
    assert isinstance(full, sqlite3.OperationalError)
    for error in (full, wrapped(full)):
        fault = storage_fault(error)
        assert isinstance(fault, StorageUnavailable)
        assert fault.code == "storage_unavailable" and fault.http_status == 503
        assert fault.details()["retry_after_ms"] == RETRY_AFTER_MS
        assert fault.details()["message_ja"]


@pytest.mark.parametrize("sqlstate", ["57014", "55P03", "08006", "53100", "57P01", "25P03"])
def test_postgresql_timeouts_lost_connections_and_a_full_disk_are_storage_faults(
        sqlstate: str) -> None:
    assert storage_fault(wrapped(PgError(sqlstate))) is not None


def test_no_pooled_connection_and_an_invalidated_connection_are_storage_faults() -> None:
    assert storage_fault(sa_exc.TimeoutError("QueuePool limit reached")) is not None
    lost = sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert storage_fault(lost) is not None


@pytest.mark.parametrize("error", [
    ValueError("a bug"),
    sa_exc.IntegrityError("INSERT …", {}, PgError("23505")),     # a constraint: not a fault
    wrapped(PgError("42601")),                                   # a syntax error: a bug
])
def test_anything_else_stays_an_internal_error(error: Exception) -> None:
    assert storage_fault(error) is None


def test_a_sqlite_syntax_error_is_not_a_storage_fault() -> None:
    assert storage_fault(sqlite_error("SELEC 1")) is None
