"""The send path's statements run straight on SQLite's inline connection
(chat/store/sqlite_inline.py, InlineStatement): they write exactly what SQLAlchemy
writes, bind expanding and literal parameters, and refuse what they cannot do."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, create_engine, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from chat.store.db import Database
from chat.store.models import AuditEvent, Base, Channel, Membership, User
from chat.store.sqlite_inline import InlineConnection, InlineStatement, inline_connection
from chat.store.uow import TxMode, unit_of_work

_EVENTS = AuditEvent.__table__
_USERS = User.__table__
_CHANNELS = Channel.__table__
_MEMBERSHIPS = Membership.__table__


@pytest.fixture
def backend() -> str:
    """These tests are about the embedded database only."""
    return "sqlite"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "inline.db"
    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    at = datetime(2026, 4, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(_USERS), [
            {"id": i, "staff_number": str(i), "name": f"職員{i}", "kana": "", "role": "staff",
             "is_active": True, "created_at": at, "updated_at": at} for i in (1, 2, 3)])
        conn.execute(insert(_CHANNELS), [
            {"id": 7, "kind": "group", "name": "係", "last_seq": 5, "last_version": 9,
             "created_at": at}])
        conn.execute(insert(_MEMBERSHIPS), [
            {"channel_id": 7, "user_id": i, "source": "group", "joined_at": at,
             "last_read_seq": 0} for i in (1, 2)])
    engine.dispose()
    yield path


def _event(seq: int, occurred_at: datetime) -> dict[str, object]:
    return {"seq": seq, "prev_hash": "0" * 64, "hash": f"{seq:064d}",
            "occurred_at": occurred_at, "action": "message.created", "outcome": "ok",
            "actor_user_id": 1, "subject_user_id": None, "device_id": None,
            "session_id": 3, "remote_addr": None, "detail": "{}"}


async def test_an_inline_insert_stores_what_sqlalchemy_stores(database: Path) -> None:
    # A time zone other than UTC: both must convert it the same way.
    occurred_at = datetime(2026, 11, 26, 21, 5, 7, 123456, tzinfo=timezone(timedelta(hours=9)))
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(insert(_EVENTS), [_event(1, occurred_at)])
    engine.dispose()
    columns = [c.name for c in _EVENTS.columns if c.name != "id"]
    inline = InlineConnection(sqlite3.connect(database, isolation_level=None),
                              busy_timeout=1)
    try:
        await inline.run_many(InlineStatement(insert(_EVENTS), column_keys=columns),
                              [_event(2, occurred_at)])
        stored = inline._live.execute(
            "SELECT seq, occurred_at, typeof(occurred_at) FROM audit_events ORDER BY seq"
        ).fetchall()
    finally:
        await inline.close()
    assert stored[0][1:] == stored[1][1:]  # the same text, byte for byte
    assert stored[0][1] == "2026-11-26 12:05:07.123456"


async def test_expanding_and_literal_parameters_are_bound(database: Path) -> None:
    members = InlineStatement(
        select(_MEMBERSHIPS.c.user_id)
        .where(_MEMBERSHIPS.c.channel_id == 7,
               _MEMBERSHIPS.c.user_id.in_(bindparam("users", expanding=True)))
        .order_by(_MEMBERSHIPS.c.user_id))
    take = InlineStatement(
        update(_CHANNELS).where(_CHANNELS.c.id == bindparam("channel"))
        .values(last_seq=_CHANNELS.c.last_seq + bindparam("count"))
        .returning(_CHANNELS.c.last_seq))
    inline = InlineConnection(sqlite3.connect(database, isolation_level=None),
                              busy_timeout=1)
    try:
        assert await inline.run(members, {"users": [3, 2, 1]}) == [(1,), (2,)]
        assert await inline.run(members, {"users": [3]}) == []
        assert await inline.run(members, {"users": []}) == []
        assert await inline.run(take, {"channel": 7, "count": 4}) == [(9,)]
        with pytest.raises(KeyError):
            await inline.run(take, {"channel": 7})
        # One prepared statement for every row cannot take a different IN list per row.
        with pytest.raises(ValueError, match="expanding"):
            await inline.run_many(members, [{"users": [1]}, {"users": [1, 2]}])
    finally:
        await inline.close()


async def test_a_refused_statement_raises_what_sqlalchemy_raises(database: Path) -> None:
    """Callers catch SQLAlchemy's IntegrityError (a client id stored twice, say)."""
    columns = [c.name for c in _EVENTS.columns if c.name != "id"]
    add = InlineStatement(insert(_EVENTS), column_keys=columns)
    inline = InlineConnection(sqlite3.connect(database, isolation_level=None),
                              busy_timeout=1)
    at = datetime(2026, 11, 26, tzinfo=UTC)
    try:
        await inline.run_many(add, [_event(1, at)])
        with pytest.raises(IntegrityError):
            await inline.run_many(add, [_event(1, at)])  # seq is unique
        with pytest.raises(IntegrityError):
            await inline.run(InlineStatement(insert(_EVENTS).returning(_EVENTS.c.id),
                                             column_keys=columns), _event(1, at))
    finally:
        await inline.close()


def test_a_statement_that_needs_python_defaults_is_refused() -> None:
    # Membership.last_read_seq has a Python-side default that SQLAlchemy would fill in.
    with pytest.raises(ValueError, match="defaults"):
        InlineStatement(insert(_MEMBERSHIPS),
                        column_keys=["channel_id", "user_id", "source", "joined_at"])


async def test_a_statement_off_the_loop_lets_the_loop_serve_meanwhile(database: Path) -> None:
    """run_off_loop (what indexes a send's messages for search) runs on the worker
    thread: other tasks run while SQLite works, which they cannot during ``run``; the
    transaction is the same, and SQLite's errors come back as SQLAlchemy's."""
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE numbers (n INTEGER)")
    inline = InlineConnection(conn, busy_timeout=5)
    fill = InlineStatement(text(
        "INSERT INTO numbers (n) WITH RECURSIVE c(n) AS "
        "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < :upto) SELECT n FROM c"))
    turns = 0
    stop = asyncio.Event()

    async def other_connection() -> None:
        nonlocal turns
        while not stop.is_set():
            turns += 1
            await asyncio.sleep(0)

    others = asyncio.create_task(other_connection())
    await asyncio.sleep(0)
    try:
        conn.execute("BEGIN IMMEDIATE")
        before = turns
        await inline.run(fill, {"upto": 300_000})
        assert turns - before <= 1          # the loop waited for SQLite
        before = turns
        await inline.run_off_loop(fill, {"upto": 300_000})
        assert turns - before > 10          # the loop went on meanwhile
        assert conn.in_transaction
        conn.execute("ROLLBACK")
        assert conn.execute("SELECT count(*) FROM numbers").fetchone() == (0,)
        with pytest.raises(OperationalError, match="no such table"):
            await inline.run_off_loop(InlineStatement(text("DELETE FROM nowhere")), {})
    finally:
        stop.set()
        await others
        await inline.close()


async def test_a_short_read_runs_on_the_loops_thread_and_cannot_write(database: Path
                                                                       ) -> None:
    db = Database(f"sqlite+aiosqlite:///{database}")
    try:
        async with unit_of_work(db, TxMode.READ) as uow:
            assert await inline_connection(uow.session) is None  # aiosqlite's thread
        async with unit_of_work(db, TxMode.SHORT_READ) as uow:
            assert isinstance(await inline_connection(uow.session), InlineConnection)
            assert await uow.channels.channel_ids_of(1) == [7]
        with pytest.raises(OperationalError, match="readonly"):
            async with unit_of_work(db, TxMode.SHORT_READ) as uow:
                await uow.session.execute(update(_CHANNELS).values(name="書き換え"))
        async with unit_of_work(db, TxMode.READ) as uow:
            channel = await uow.channels.get(7)
            assert channel is not None and channel.name == "係"
    finally:
        await db.dispose()


async def test_a_short_read_sees_each_commit_and_never_waits_for_a_writer(database: Path
                                                                          ) -> None:
    db = Database(f"sqlite+aiosqlite:///{database}")

    async def name_now() -> str:
        async with unit_of_work(db, TxMode.SHORT_READ) as uow:
            channel = await uow.channels.get(7)
            assert channel is not None
            return channel.name

    other = sqlite3.connect(database, isolation_level=None)
    try:
        assert await name_now() == "係"
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await uow.session.execute(update(_CHANNELS).values(name="窓口係"))
        assert await name_now() == "窓口係"  # a pooled connection keeps no old snapshot
        # Another process in the middle of a write: the read answers at once, with what
        # was committed.
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE channels SET name = '未確定'")
        async with asyncio.timeout(1):
            assert await name_now() == "窓口係"
        other.execute("COMMIT")
        assert await name_now() == "未確定"
    finally:
        other.close()
        await db.dispose()



async def test_an_inline_transaction_runs_in_its_callers_task_alone(database: Path) -> None:
    """No task of SQLAlchemy's to close it (Database.close): on the inline connections
    nothing in a close waits, and a task per transaction cost ~100 Python calls and two
    turns of the loop. Reads on aiosqlite's threads keep SQLAlchemy's shielded close."""
    db = Database(f"sqlite+aiosqlite:///{database}")
    loop = asyncio.get_running_loop()
    started: list[str] = []

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any
                         ) -> asyncio.Task[Any]:
        started.append(getattr(coro, "__qualname__", "?"))
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting_factory)
    try:
        for n in range(3):
            async with unit_of_work(db, TxMode.SHORT_READ) as uow:
                assert await uow.channels.channel_ids_of(1) == [7]
            async with unit_of_work(db, TxMode.WRITE) as uow:
                await uow.session.execute(update(_CHANNELS).values(name=f"係{n}"))
        assert started == []
        async with unit_of_work(db, TxMode.READ) as uow:
            channel = await uow.channels.get(7)
            assert channel is not None and channel.name == "係2"
        assert started != []  # SQLAlchemy's close, in a task of its own
    finally:
        loop.set_task_factory(None)
        await db.dispose()
