"""The models and the migrations agree, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from alembic import command
from chat.store.db import Database
from chat.store.migrations import alembic_config, include_object, upgrade
from chat.store.models import Base
from tests.support import in_own_thread


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={
        "include_object": include_object, "compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _schema_diff(database_url: str) -> list[Any]:
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await db.dispose()


async def test_autogenerate_finds_nothing_after_upgrade(database_url: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    assert await _schema_diff(database_url) == []


async def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    in_own_thread(lambda: upgrade(database_url))
    in_own_thread(lambda: command.downgrade(config, "base"))
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert set(tables) <= {"alembic_version"}
    finally:
        await db.dispose()
    in_own_thread(lambda: upgrade(database_url))
    assert await _schema_diff(database_url) == []


async def test_search_index_exists_for_the_dialect(database_url: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                found = await conn.scalar(text(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'messages_fts'"))
            else:
                found = await conn.scalar(text(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_messages_body_trgm'"))
                # Japanese must produce trigrams (needs a UTF-8 ctype, not C).
                trigrams = await conn.scalar(text("SELECT show_trgm('防災訓練')"))
                assert trigrams and len(trigrams) > 0
        assert found == 1
    finally:
        await db.dispose()
