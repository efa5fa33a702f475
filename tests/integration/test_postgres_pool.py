"""PostgreSQL's pooled connections (chat/store/db.py): one that sat unused is checked
before it is handed out, so a connection the server cut meanwhile is replaced rather
than failing a request; one used moments ago is handed out unchecked."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from chat.store.db import Database
from chat.store.uow import TxMode, unit_of_work


@pytest.fixture
def backend(backend: str) -> str:
    if backend != "postgres":
        pytest.skip("about PostgreSQL's connection pool")
    return backend


async def _backend_pid(db: Database, *, short: bool) -> int:
    async with unit_of_work(db, (TxMode.SHORT_READ if short else TxMode.READ)) as uow:
        return int((await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _cut(database_url: str, pid: int) -> None:
    """What a server restart or a firewall does to one connection: it is gone."""
    admin = Database(database_url)
    try:
        async with unit_of_work(admin, TxMode.READ) as uow:
            await uow.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        async with asyncio.timeout(5):
            while True:
                async with unit_of_work(admin, TxMode.READ) as uow:
                    alive = (await uow.session.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                        {"pid": pid})).scalar_one()
                if not alive:
                    return
                await asyncio.sleep(0.05)
    finally:
        await admin.dispose()


@pytest.mark.parametrize("short", [False, True])
async def test_a_connection_cut_while_idle_is_replaced_before_use(
        database_url: str, short: bool) -> None:
    db = Database(database_url, ping_after_idle_seconds=0.0)
    try:
        pid = await _backend_pid(db, short=short)
        await _cut(database_url, pid)
        assert await _backend_pid(db, short=short) != pid
    finally:
        await db.dispose()


async def test_a_connection_used_moments_ago_is_not_checked(database_url: str) -> None:
    db = Database(database_url, ping_after_idle_seconds=3600)
    try:
        pid = await _backend_pid(db, short=False)
        await _cut(database_url, pid)
        # Unchecked, the cut connection fails the one transaction that gets it, as it
        # would fail one in flight; the pool then drops it.
        with pytest.raises(DBAPIError):
            await _backend_pid(db, short=False)
        assert await _backend_pid(db, short=False) != pid
    finally:
        await db.dispose()
