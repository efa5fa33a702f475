"""PostgreSQL: a batch's rows inserted as one statement over column arrays, on asyncpg.

A batch of sends (chat/groupcommit.py) inserts hundreds of rows into ``messages``,
``message_revisions`` and ``audit_events``. Through SQLAlchemy, each row's parameters
are processed in Python and rendered into a multi-``VALUES`` statement whose text (and
so asyncpg's prepared statement) changes with the row count: in the (d) profile on
PostgreSQL that parameter work was SQLAlchemy's largest cost (docs/performance.md).
:class:`ArrayInsert` sends one array per column instead, to

    INSERT INTO t (a, b, …) SELECT * FROM unnest($1::bigint[], $2::text[], …)

one statement text whatever the batch's size (prepared once per connection by asyncpg,
which encodes the arrays in its own codecs), in the session's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
_CONNECTION_KEY = "tsunagu.asyncpg_connection"


class ArrayInsert:
    """``INSERT … SELECT * FROM unnest(…)`` of ``columns`` into ``table``, returning
    ``returning`` (column names) for each row inserted, in the rows' order. Values are
    bound as SQLAlchemy would bind them for asyncpg (each column type's own processing);
    callers pass every column they insert (no Python-side defaults are applied)."""

    def __init__(self, table: Table, columns: Sequence[str],
                 returning: Sequence[str] = ()) -> None:
        self.columns = tuple(columns)
        self._processors = [table.c[name].type.bind_processor(_DIALECT)
                            for name in self.columns]
        arrays = ", ".join(f"${n}::{table.c[name].type.compile(dialect=_DIALECT)}[]"
                           for n, name in enumerate(self.columns, 1))
        #: The rows as a relation, for a statement of the caller's (:meth:`fetch`).
        self.unnest = f"unnest({arrays})"
        #: ``INSERT INTO table (columns)``, for a statement of the caller's.
        self.insert_into = f"INSERT INTO {table.name} ({', '.join(self.columns)})"
        self.sql = f"{self.insert_into} SELECT * FROM {self.unnest}"
        if returning:
            self.sql += f" RETURNING {', '.join(returning)}"

    def arrays(self, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        """One list per column, each value processed as its column's type binds it."""
        columns = []
        for name, process in zip(self.columns, self._processors, strict=True):
            values = [row[name] for row in rows]
            columns.append([process(v) for v in values] if process else values)
        return columns

    async def run(self, session: AsyncSession, rows: Sequence[Mapping[str, Any]]
                  ) -> list[Any]:
        """Insert ``rows`` in ``session``'s transaction; the returned rows (none
        without ``returning``). Errors are raised as SQLAlchemy's (callers catch its
        ``IntegrityError``), and leave the transaction to be rolled back as usual."""
        if not rows:
            return []
        return await self.fetch(session, self.sql, rows)

    async def fetch(self, session: AsyncSession, sql: str,
                    rows: Sequence[Mapping[str, Any]], *extra: Any) -> list[Any]:
        """Run ``sql``, a statement that reads ``rows`` through :attr:`unnest` (its
        ``$1…$n``, one per column) and ``extra`` values as the parameters after them, in
        ``session``'s transaction; the rows it returns. Errors as :meth:`run`'s."""
        adapted = await _adapted_connection(session)
        try:
            return list(await adapted._connection.fetch(sql, *self.arrays(rows), *extra))
        except Exception as error:
            raise _as_sqlalchemy_error(adapted, sql, error) from error


async def _adapted_connection(session: AsyncSession) -> Any:
    """SQLAlchemy's asyncpg adapter under ``session``'s transaction, with that
    transaction begun (the adapter begins it lazily, at its first statement)."""
    transaction = session.sync_session.get_transaction()
    cached = session.info.get(_CONNECTION_KEY)
    if cached is not None and cached[0] is transaction:
        return cached[1]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    adapted: Any = raw.dbapi_connection
    if adapted._transaction is None:
        await adapted._start_transaction()
    session.info[_CONNECTION_KEY] = (session.sync_session.get_transaction(), adapted)
    return adapted


def _as_sqlalchemy_error(adapted: Any, sql: str, error: Exception) -> Exception:
    """What SQLAlchemy would raise for asyncpg's ``error``: its adapter's translation
    (a unique violation becomes the DB-API ``IntegrityError``), wrapped as SQLAlchemy's."""
    try:
        adapted._handle_exception(error)
    except AsyncAdapt_asyncpg_dbapi.Error as translated:
        return DBAPIError.instance(sql, None, translated, AsyncAdapt_asyncpg_dbapi.Error)
    except Exception as other:
        return other
    return error
