"""A batch insert made with ``InlineStatement.insert`` (chat/store/sqlite_inline.py) picks
its way by the session's connection, so repositories never choose: straight on sqlite3
in SQLite's write transactions, one statement over column arrays on PostgreSQL
(chat/store/pg_arrays.py), SQLAlchemy otherwise. Every way stores the same rows and
returns them in the rows' order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text

from chat.store.db import Database
from chat.store.migrations import upgrade
from chat.store.models import AuditEvent
from chat.store.sqlite_inline import InlineStatement, execute_each, insert_rows
from chat.store.uow import TxMode, unit_of_work
from tests.support import in_own_thread

_EVENTS = AuditEvent.__table__
_COLUMNS = tuple(c.name for c in _EVENTS.columns if c.name != "id")
WITH_IDS = InlineStatement.insert(_EVENTS, _COLUMNS, returning=("id", "seq"))
PLAIN = InlineStatement.insert(_EVENTS, _COLUMNS)


def _event(seq: int) -> dict[str, Any]:
    return {"seq": seq, "prev_hash": "0" * 64, "hash": f"{seq:064d}",
            "occurred_at": datetime(2026, 4, 1, 9, seq % 60, tzinfo=UTC),
            "action": "message.created", "outcome": "ok", "actor_user_id": None,
            "subject_user_id": None, "device_id": None, "session_id": seq,
            "remote_addr": None, "detail": '{"本文":"避難所を開設"}'}


async def _prepared_unnest_statements(session: Any) -> int:
    """How many statements over column arrays this PostgreSQL connection prepared."""
    return int(await session.scalar(text(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%unnest(%'")))


async def test_every_way_stores_the_rows_and_returns_them_in_order(
        database_url: str, backend: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    for bulk in (False, True):  # a bulk write is on aiosqlite's thread, not inline
        db = Database(database_url)
        first = 1000 if bulk else 1
        try:
            async with unit_of_work(db, (TxMode.BULK_WRITE if bulk else TxMode.WRITE)) as uow:
                returned = await insert_rows(uow.session, WITH_IDS,
                                             [_event(s) for s in range(first, first + 40)])
                await execute_each(uow.session, PLAIN,
                                   [_event(s) for s in range(first + 40, first + 80)])
                assert await insert_rows(uow.session, WITH_IDS, []) == []
                if backend == "postgres":
                    # The arrays' statement, not SQLAlchemy's, ran on this connection.
                    assert await _prepared_unnest_statements(uow.session) >= 2
            assert [int(seq) for _, seq in returned] == list(range(first, first + 40))
            assert len({int(id_) for id_, _ in returned}) == 40
            async with unit_of_work(db, TxMode.READ) as uow:
                stored = (await uow.session.execute(
                    select(_EVENTS.c.seq, _EVENTS.c.occurred_at, _EVENTS.c.detail)
                    .where(_EVENTS.c.seq >= first, _EVENTS.c.seq < first + 80)
                    .order_by(_EVENTS.c.seq))).all()
            assert [int(row.seq) for row in stored] == list(range(first, first + 80))
            assert stored[7].occurred_at.replace(tzinfo=UTC) == datetime(
                2026, 4, 1, 9, 7 + first % 60, tzinfo=UTC)
            assert {row.detail for row in stored} == {'{"本文":"避難所を開設"}'}
        finally:
            await db.dispose()
