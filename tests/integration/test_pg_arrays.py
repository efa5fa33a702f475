"""PostgreSQL's batch inserts over column arrays (chat/store/pg_arrays.py): they write
exactly what SQLAlchemy's insert writes, in the session's own transaction, return rows in
the rows' order, and fail as SQLAlchemy fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from chat.store.db import Database
from chat.store.migrations import upgrade
from chat.store.models import AuditEvent
from chat.store.pg_arrays import ArrayInsert
from chat.store.uow import TxMode, unit_of_work
from tests.support import in_own_thread

_EVENTS = AuditEvent.__table__
_COLUMNS = tuple(c.name for c in _EVENTS.columns if c.name != "id")
EVENTS = ArrayInsert(_EVENTS, _COLUMNS, returning=("id", "seq"))


@pytest.fixture
def backend(backend: str) -> str:
    if backend != "postgres":
        pytest.skip("about PostgreSQL")
    return backend


def _event(seq: int, **changes: Any) -> dict[str, Any]:
    """An entry whose fields but ``seq`` depend on ``seq % 1000`` only."""
    k = seq % 1000
    return {"seq": seq, "prev_hash": "0" * 64, "hash": f"{k:064d}",
            "occurred_at": datetime(2026, 4, 1, 9, k % 60, tzinfo=UTC),
            "action": "message.created", "outcome": "ok", "actor_user_id": None,
            "subject_user_id": None, "device_id": None, "session_id": k * 1_000_003,
            "remote_addr": None, "detail": '{"本文":"避難所を開設"}', **changes}


async def _stored(db: Database, seqs: range) -> list[dict[str, Any]]:
    """The stored entries with these seqs, by seq (every column but the id)."""
    async with unit_of_work(db, TxMode.READ) as uow:
        rows = await uow.session.execute(
            select(*[_EVENTS.c[name] for name in _COLUMNS])
            .where(_EVENTS.c.seq.in_(list(seqs))).order_by(_EVENTS.c.seq))
        return [dict(row._mapping) for row in rows]


def _but_seq(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "seq"}


async def test_rows_are_written_as_sqlalchemy_writes_them(database_url: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        jst = timezone(timedelta(hours=9))
        variants = [{}, {"remote_addr": "192.0.2.1", "outcome": "denied"},
                    {"occurred_at": datetime(2026, 4, 1, 18, 0, tzinfo=jst)},
                    {"detail": "", "session_id": None}]
        by_arrays = [_event(seq, **variants[seq % 4]) for seq in range(1, 201)]
        by_sqlalchemy = [_event(seq, **variants[seq % 4]) for seq in range(1001, 1201)]
        async with unit_of_work(db, TxMode.WRITE) as uow:
            returned = await EVENTS.run(uow.session, by_arrays)
            await uow.session.execute(insert(_EVENTS), by_sqlalchemy)
        # One row back per row, in the rows' order.
        assert [row["seq"] for row in returned] == list(range(1, 201))
        assert len({row["id"] for row in returned}) == 200
        arrays = await _stored(db, range(1, 201))
        reference = await _stored(db, range(1001, 1201))
        assert len(arrays) == 200
        assert [_but_seq(row) for row in arrays] == [_but_seq(row) for row in reference]
        # The zone-aware time is stored as the same instant (UTC).
        assert arrays[1]["occurred_at"] == datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
        assert arrays[2]["session_id"] is None and arrays[0]["remote_addr"] == "192.0.2.1"
        async with unit_of_work(db, TxMode.WRITE) as uow:
            assert await EVENTS.run(uow.session, []) == []
    finally:
        await db.dispose()


async def test_the_insert_is_part_of_the_sessions_transaction(database_url: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        class Abandoned(Exception):
            pass

        # The first statement of its transaction: the transaction is begun for it, and
        # a rollback takes its rows away.
        with pytest.raises(Abandoned):
            async with unit_of_work(db, TxMode.WRITE) as uow:
                await EVENTS.run(uow.session, [_event(1), _event(2)])
                async with unit_of_work(db, TxMode.READ) as other:
                    unseen = await other.session.scalar(
                        text("SELECT count(*) FROM audit_events"))
                assert unseen == 0
                raise Abandoned()
        assert await _stored(db, range(1, 3)) == []
    finally:
        await db.dispose()


async def test_a_unique_violation_is_sqlalchemys_and_stores_nothing(
        database_url: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await EVENTS.run(uow.session, [_event(5)])
        with pytest.raises(IntegrityError, match="uq_audit_events_seq"):
            async with unit_of_work(db, TxMode.WRITE) as uow:
                await EVENTS.run(uow.session, [_event(4), _event(5), _event(6)])
        assert [row["seq"] for row in await _stored(db, range(1, 10))] == [5]
        # The pool's connection is fine for the next transaction.
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await EVENTS.run(uow.session, [_event(6)])
        assert [row["seq"] for row in await _stored(db, range(1, 10))] == [5, 6]
    finally:
        await db.dispose()
