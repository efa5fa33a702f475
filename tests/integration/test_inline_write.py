"""A short SQLite write transaction runs straight on the held inline connection
(chat.store.db.Database.inline_write): no pool checkout, connection object or session
transaction per transaction, while whatever needs the ORM still joins the same
transaction, and an error or a cancellation leaves nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, create_engine, event, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from chat.store.db import Database
from chat.store.models import Base, Channel, User
from chat.store.sqlite_inline import InlineStatement, execute_each, rows_of
from chat.store.uow import TxMode, unit_of_work

_CHANNELS = Channel.__table__
_USERS = User.__table__
_RENAME = InlineStatement(update(_CHANNELS).where(_CHANNELS.c.id == 7)
                          .values(name=bindparam("new_name")))
_NAME = InlineStatement(select(_CHANNELS.c.name).where(_CHANNELS.c.id == 7))
_AT = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def backend() -> str:
    """These tests are about the embedded database only."""
    return "sqlite"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "inline-write.db"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(_USERS), [
            {"id": 1, "staff_number": "1", "name": "職員1", "kana": "", "role": "staff",
             "is_active": True, "created_at": _AT, "updated_at": _AT}])
        conn.execute(insert(_CHANNELS), [
            {"id": 7, "kind": "group", "name": "係", "last_seq": 0, "last_version": 0,
             "created_at": _AT}])
    engine.dispose()
    yield path


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "staff_number": str(user_id), "name": f"職員{user_id}",
            "kana": "", "role": "staff", "is_active": True, "created_at": _AT,
            "updated_at": _AT}


async def _name(db: Database) -> str:
    async with unit_of_work(db, TxMode.READ) as uow:
        return str((await uow.session.execute(select(_CHANNELS.c.name))).scalar_one())


async def test_a_write_of_inline_statements_checks_out_no_connection_and_begins_nothing(
        database: Path) -> None:
    """Each transaction used to check out a pooled connection, make a connection object
    with its events and begin a session transaction: ~250 µs of a lone send's ~1 ms."""
    db = Database(f"sqlite+aiosqlite:///{database}")
    assert db._inline_engine is not None
    checkouts: list[object] = []
    begins: list[object] = []
    event.listen(db._inline_engine.sync_engine.pool, "checkout",
                 lambda *args: checkouts.append(args))
    event.listen(db._inline_engine.sync_engine, "begin", lambda conn: begins.append(conn))
    committed: list[int] = []
    try:
        for n in range(5):
            async with unit_of_work(db, TxMode.WRITE) as uow:
                await execute_each(uow.session, _RENAME, [{"new_name": f"係{n}"}])
                assert [tuple(r) for r in await rows_of(uow.session, _NAME, {})] == [
                    (f"係{n}",)]
                uow.on_commit(lambda n=n: _note(committed, n))
        assert len(checkouts) <= 1      # the first transaction's, held since
        assert begins == []             # BEGIN IMMEDIATE straight on sqlite3
        assert not uow.session.in_transaction()
        assert committed == [0, 1, 2, 3, 4]
        assert await _name(db) == "係4"
    finally:
        await db.dispose()


async def _note(into: list[int], n: int) -> None:
    into.append(n)


async def test_the_orm_joins_the_inline_transaction_and_commits_it(database: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{database}")
    try:
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await execute_each(uow.session, _RENAME, [{"new_name": "総務係"}])
            channel = await uow.session.get(Channel, 7)   # sees the inline write
            assert channel is not None and channel.name == "総務係"
            channel.last_seq = 3                          # flushed at commit
            uow.session.add(User(**_user(2)))
        # Detached, as a closed session's objects are: no later query on the held
        # connection, in another transaction.
        assert inspect(channel).detached
        async with unit_of_work(db, TxMode.READ) as uow:
            channel = await uow.session.get(Channel, 7)
            assert channel is not None and (channel.name, channel.last_seq) == ("総務係", 3)
            assert await uow.session.get(User, 2) is not None
    finally:
        await db.dispose()


@pytest.mark.parametrize("orm", [False, True])
async def test_an_error_rolls_back_inline_and_orm_writes_alike(database: Path,
                                                               orm: bool) -> None:
    db = Database(f"sqlite+aiosqlite:///{database}")
    committed: list[int] = []
    try:
        with pytest.raises(IntegrityError):
            async with unit_of_work(db, TxMode.WRITE) as uow:
                uow.on_commit(lambda: _note(committed, 1))
                await execute_each(uow.session, _RENAME, [{"new_name": "消えるはず"}])
                if orm:
                    uow.session.add(User(**_user(3)))
                    await uow.session.flush()
                    uow.session.add(User(**_user(1)))     # taken: refused at flush
                    await uow.session.flush()
                else:
                    await execute_each(uow.session, InlineStatement(
                        insert(_USERS), column_keys=list(_user(1))),
                                       [_user(1)])
        assert committed == []
        assert await _name(db) == "係"
        async with unit_of_work(db, TxMode.READ) as uow:
            assert await uow.session.get(User, 3) is None
        # The next write finds a clean connection.
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await execute_each(uow.session, _RENAME, [{"new_name": "次"}])
        assert await _name(db) == "次"
    finally:
        await db.dispose()


async def test_a_cancelled_write_rolls_back_and_the_next_one_commits(database: Path
                                                                     ) -> None:
    db = Database(f"sqlite+aiosqlite:///{database}")
    inside = asyncio.Event()

    async def interrupted() -> None:
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await execute_each(uow.session, _RENAME, [{"new_name": "取消"}])
            inside.set()
            await asyncio.sleep(10)

    try:
        task = asyncio.create_task(interrupted())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await _name(db) == "係"
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await execute_each(uow.session, _RENAME, [{"new_name": "再開"}])
        assert await _name(db) == "再開"
    finally:
        await db.dispose()
