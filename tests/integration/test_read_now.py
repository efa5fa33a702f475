"""A node's periodic polls read without a session (``Database.read_now``): the bus
outbox four times a second and the revocation sweep every second. They must see every
commit at once (each statement its own snapshot), hold no transaction between polls
(a SQLite reader left open would pin the WAL), and on SQLite take no pooled
connection at all, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event, update

from chat.store.db import Database
from chat.store.migrations import upgrade
from chat.store.models import AuthSession, User
from chat.store.outbox import DatabaseOutbox
from chat.store.sessions import revoked_since
from chat.store.uow import TxMode, unit_of_work
from tests.support import in_own_thread


async def test_outbox_polls_see_each_commit_at_once(database_url: str, backend: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    checkouts: list[object] = []
    for engine in (db.engine, db._inline_engine, db._inline_read_engine):
        if engine is not None:
            event.listen(engine.sync_engine.pool, "checkout",
                         lambda *_args: checkouts.append(1))
    outbox = DatabaseOutbox(db)
    try:
        assert await outbox.last_id() == 0
        assert await outbox.after(0, 10) == []
        polls_before = len(checkouts)
        for _ in range(5):
            assert await outbox.after(0, 10) == []
        if backend == "sqlite":
            assert len(checkouts) == polls_before  # no session, no pooled connection
        await outbox.append([("channel:7", '{"type":"message"}'), ("user:3", "{}")])
        rows = await outbox.after(0, 10)
        assert [(topic, data) for _, topic, data in rows] == [
            ("channel:7", '{"type":"message"}'), ("user:3", "{}")]
        assert await outbox.last_id() == rows[-1][0]
        assert await outbox.after(rows[0][0], 10) == rows[1:]
        assert await outbox.after(rows[-1][0], 1) == []
        # Between polls nothing is held: a writer checkpoints the whole log (SQLite) or
        # takes an exclusive lock on the table (PostgreSQL) without waiting for them.
        await outbox.append([("channel:8", "{}")])
        assert [topic for _, topic, _ in await outbox.after(rows[-1][0], 10)] == ["channel:8"]
        if backend == "sqlite":
            async with db.engine.connect() as conn:
                busy, _log, _moved = (await conn.exec_driver_sql(
                    "PRAGMA wal_checkpoint(TRUNCATE)")).one()
            assert busy == 0
    finally:
        await db.dispose()


async def test_the_revocation_sweep_reads_revocations_since_a_moment(
        database_url: str, backend: str) -> None:
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        now = datetime.now(UTC)
        async with unit_of_work(db, TxMode.WRITE) as uow:
            user = User(staff_number="9001", name="防災 太郎", kana="ぼうさい たろう",
                        role="staff", is_active=True, created_at=now, updated_at=now)
            uow.session.add(user)
            await uow.flush()
            sessions = [AuthSession(token_digest=f"digest-{i}", user_id=user.id,
                                    kind="device", created_at=now, last_active_at=now,
                                    expires_at=now + timedelta(hours=8)) for i in range(3)]
            uow.session.add_all(sessions)
            await uow.flush()
            session_ids = [s.id for s in sessions]
        moment = datetime.now(UTC) - timedelta(seconds=1)
        assert await revoked_since(db, moment) == []
        async with unit_of_work(db, TxMode.WRITE) as uow:
            await uow.session.execute(
                update(AuthSession).where(AuthSession.id == session_ids[1])
                .values(revoked_at=datetime.now(UTC), revoked_reason="端末の紛失"))
        assert await revoked_since(db, moment) == [(session_ids[1], "端末の紛失")]
        assert await revoked_since(db, datetime.now(UTC) + timedelta(seconds=1)) == []
    finally:
        await db.dispose()
