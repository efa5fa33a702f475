"""PostgreSQL keeps a plan per connection (a prepared statement's, a PL/pgSQL
function's); one made while the tables were small must not stay a scan as they grow.
The send path's resend look-up and its revision insert (with alembic 0012's trigger)
are made on an empty database, used, then used again on the same connection after
20,000 messages: they must still probe by index, not scan the grown tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from chat.store.db import Database
from chat.store.messages import MessageRepository
from chat.store.migrations import upgrade
from chat.store.models import Channel, User
from tests.support import in_own_thread

AT = datetime(2026, 4, 1, tzinfo=UTC)


@pytest.fixture
def backend(backend: str) -> str:
    if backend != "postgres":
        pytest.skip("about PostgreSQL's plan caching")
    return backend


def _message(seq: int, client_id: str) -> dict[str, object]:
    return {"channel_id": 1, "seq": seq, "version": seq, "sender_id": 1,
            "client_id": client_id, "kind": "text", "body": "本日の窓口混雑状況を共有します。",
            "revision": 1, "created_at": AT, "reply_to_id": None, "mentions": None}


async def _send_batch(conn: AsyncConnection, first_seq: int, size: int, tag: str) -> int:
    """A batch of sends' look-up and inserts, as group commit runs them, in one
    transaction on ``conn``; how many scans of messages and revisions it made."""
    async with AsyncSession(bind=conn, expire_on_commit=False) as session:
        async with session.begin():
            before = await _scans(session)
            messages = MessageRepository(session, "postgresql")
            keys = [(1, f"{tag}-{n}") for n in range(size)]
            assert await messages.by_client_ids(keys) == {}
            ids = await messages.insert_many(
                [_message(first_seq + n, f"{tag}-{n}") for n in range(size)])
            await messages.insert_revisions(
                [{"message_id": message_id, "revision": 1, "action": "create",
                  "body": "本日の窓口混雑状況を共有します。", "actor_id": 1, "created_at": AT}
                 for message_id in ids.values()])
            return await _scans(session) - before


async def _scans(session: AsyncSession) -> int:
    """Sequential scans of messages and revisions this connection made so far (counts
    not yet reported to the statistics system, this transaction's included)."""
    return int(await session.scalar(text(
        "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_xact_user_tables "
        "WHERE relname IN ('messages', 'message_revisions')")) or 0)


async def test_the_send_path_probes_by_index_as_the_tables_grow(
        database_url: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(insert(User), [
                {"id": 1, "staff_number": "1", "name": "職員", "kana": "", "role": "staff",
                 "is_active": True, "created_at": AT, "updated_at": AT}])
            await conn.execute(insert(Channel), [
                {"id": 1, "kind": "group", "name": "係", "last_seq": 0, "last_version": 0,
                 "created_at": AT}])
            await conn.commit()
            # Enough batches on the small tables for PostgreSQL to settle on a plan.
            seq = 1
            for round_ in range(8):
                await _send_batch(conn, seq, 4, f"small-{round_}")
                seq += 4
            await conn.execute(text(
                "INSERT INTO messages (channel_id, seq, version, sender_id, client_id, kind, "
                "body, revision, created_at) SELECT 1, s, s, 1, 'bulk-' || s, 'text', "
                "'本日の窓口混雑状況を共有します。', 1, now() "
                "FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS s"),
                {"first": seq, "last": seq + 19_999})
            await conn.execute(text(
                "INSERT INTO message_revisions (message_id, revision, action, body, actor_id, "
                "created_at) SELECT id, 1, 'create', body, 1, now() FROM messages "
                "WHERE client_id LIKE 'bulk-%'"))
            await conn.commit()
            seq += 20_000
            assert await _send_batch(conn, seq, 64, "grown") == 0
    finally:
        await db.dispose()
