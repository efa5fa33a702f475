"""The models and the migrations agree, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import Connection

from chat.store.db import Database
from chat.store.migrations import alembic_config, include_object, upgrade
from chat.store.models import Base, Channel, Membership, Message, MessageRevision, User
from chat.store.records import RecordQuery
from chat.store.search import sqlite_gram_match
from chat.store.uow import TxMode, unit_of_work
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
                # The trigram index of the folded text (alembic 0021).
                found = await conn.scalar(text("SELECT count(*) FROM pg_indexes "
                                               "WHERE indexname = 'ix_messages_search_trgm'"))
                # Japanese must produce trigrams (needs a UTF-8 ctype, not C).
                trigrams = await conn.scalar(text("SELECT show_trgm('防災訓練')"))
                assert trigrams and len(trigrams) > 0
        assert found == 1
    finally:
        await db.dispose()


async def _write_messages(database_url: str) -> None:
    """Two messages as an earlier release stored them: the first edited (its first
    text, 雨で延期, is no longer current), the second as sent."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            at = datetime(2026, 4, 1, tzinfo=UTC)
            await conn.execute(insert(User), [
                {"id": 1, "staff_number": "1", "name": "職員", "kana": "", "role": "staff",
                 "is_active": True, "created_at": at, "updated_at": at}])
            await conn.execute(insert(Channel), [
                {"id": 1, "kind": "group", "name": "係", "last_seq": 2, "last_version": 3,
                 "created_at": at}])
            await conn.execute(insert(Membership), [
                {"channel_id": 1, "user_id": 1, "source": "group", "joined_at": at,
                 "last_read_seq": 0}])
            await conn.execute(insert(Message), [
                {"id": 1, "channel_id": 1, "seq": 1, "version": 3, "sender_id": 1,
                 "kind": "text", "body": "避難所を開設", "revision": 2, "created_at": at},
                {"id": 2, "channel_id": 1, "seq": 2, "version": 2, "sender_id": 1,
                 "kind": "text", "body": "窓口は混雑", "revision": 1, "created_at": at}])
            await conn.execute(insert(MessageRevision), [
                {"message_id": 1, "revision": 1, "action": "create", "body": "雨で延期",
                 "actor_id": 1, "created_at": at},
                {"message_id": 1, "revision": 2, "action": "edit", "body": "避難所を開設",
                 "actor_id": 1, "created_at": at},
                {"message_id": 2, "revision": 1, "action": "create", "body": "窓口は混雑",
                 "actor_id": 1, "created_at": at}])
    finally:
        await db.dispose()


async def test_upgrading_indexes_the_messages_already_written(database_url: str) -> None:
    """0007 indexes what earlier releases stored, and its downgrade leaves nothing."""
    in_own_thread(lambda: upgrade(database_url, "0006"))
    await _write_messages(database_url)
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        async with unit_of_work(db, TxMode.READ) as uow:
            found = [m.id for m, _ in await uow.messages.search_visible(1, "窓口", limit=9)]
            assert found == [2]
            assert [m.id for m, _ in await uow.messages.search_visible(1, "所", limit=9)] == [1]
            assert await uow.messages.search_visible(1, "雨", limit=9) == []  # edited away
            records, _ = await uow.records.page(RecordQuery(words=("雨",)), before_id=None,
                                                limit=9)
            assert [r.id for r in records] == [1]
        grams_objects = await _grams_objects(db)
        assert grams_objects
    finally:
        await db.dispose()
    in_own_thread(lambda: command.downgrade(alembic_config(database_url), "0006"))
    db = Database(database_url)
    try:
        assert await _grams_objects(db) == []
    finally:
        await db.dispose()


async def _grams_objects(db: Database) -> list[str]:
    """The objects of 0007 that exist: tables and triggers, or indexes and functions."""
    async with db.engine.connect() as conn:
        if db.dialect == "sqlite":
            rows = await conn.execute(text(
                "SELECT name FROM sqlite_master WHERE name LIKE '%grams%'"))
        else:
            rows = await conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%grams%' "
                "UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE 'tsunagu_%grams'"))
        return sorted(row[0] for row in rows)


async def test_0008_keeps_only_superseded_revisions_in_the_index(database_url: str) -> None:
    """SQLite: 0008 forgets the revisions whose text is their message's current one
    (found through the message's grams), and its downgrade indexes them all again."""
    if not database_url.startswith("sqlite"):
        pytest.skip("0008 changes nothing on PostgreSQL (its expression index stays)")
    in_own_thread(lambda: upgrade(database_url, "0007"))
    await _write_messages(database_url)
    assert await _indexed_revisions(database_url) == {(1, 1), (1, 2), (2, 1)}
    in_own_thread(lambda: upgrade(database_url, "0008"))
    assert await _indexed_revisions(database_url) == {(1, 1)}
    in_own_thread(lambda: upgrade(database_url))  # the searches of today's code
    db = Database(database_url)
    try:
        async with unit_of_work(db, TxMode.READ) as uow:
            for word, found in [("雨", [1]), ("開設", [1]), ("窓口", [2]), ("は", [2])]:
                records, _ = await uow.records.page(RecordQuery(words=(word,)),
                                                    before_id=None, limit=9)
                assert [r.id for r in records] == found, word
    finally:
        await db.dispose()
    in_own_thread(lambda: command.downgrade(alembic_config(database_url), "0007"))
    assert await _indexed_revisions(database_url) == {(1, 1), (1, 2), (2, 1)}


async def test_0010_computes_the_same_grams_in_place(database_url: str) -> None:
    """PostgreSQL: 0010's grams function gives every text the grams 0007's gave (as a
    set, which is what a GIN index keeps), so the indexes built before stay exact; the
    person's searches find what they found; the downgrade restores 0007's function."""
    if database_url.startswith("sqlite"):
        pytest.skip("0010 changes nothing on SQLite")
    texts = ["", "雨", "Ab", "Ab雨", "防災訓練の集合場所", "ÉéＰＣ😀 %_\\", "窓口" * 2000]
    in_own_thread(lambda: upgrade(database_url, "0009"))
    await _write_messages(database_url)
    db = Database(database_url)
    try:
        before = [await _grams_of(db, t) for t in texts]
    finally:
        await db.dispose()
    in_own_thread(lambda: upgrade(database_url, "0010"))
    db = Database(database_url)
    try:
        assert [await _grams_of(db, t) for t in texts] == before
        assert await _grams_of(db, "Ab雨") == ["a", "ab", "b", "b雨", "雨"]
        # The person's search as it was at 0010 (the app's own asks alembic 0021's fold).
        async with db.engine.connect() as conn:
            for word, found in [("開設", [1]), ("窓口", [2]), ("は", [2]), ("混", [2])]:
                assert list((await conn.scalars(text(
                    "SELECT id FROM messages WHERE tsunagu_search_grams(body) "
                    "@> tsunagu_query_grams(:w) AND body ILIKE :p ORDER BY id"),
                    {"w": word, "p": f"%{word}%"})).all()) == found, word
        assert "grams := grams ||" not in await _grams_source(db)
    finally:
        await db.dispose()
    in_own_thread(lambda: command.downgrade(alembic_config(database_url), "0009"))
    db = Database(database_url)
    try:
        assert "grams := grams ||" in await _grams_source(db)
        assert [await _grams_of(db, t) for t in texts] == before
    finally:
        await db.dispose()


async def _grams_of(db: Database, body: str) -> list[str]:
    """The set of grams PostgreSQL's function gives ``body``, sorted."""
    async with db.engine.connect() as conn:
        grams = await conn.scalar(text("SELECT tsunagu_search_grams(:b)"), {"b": body})
    return sorted(set(grams))


async def _grams_source(db: Database) -> str:
    async with db.engine.connect() as conn:
        return str(await conn.scalar(text(
            "SELECT prosrc FROM pg_proc WHERE proname = 'tsunagu_search_grams'")))


async def test_0011_flags_superseded_revisions_for_postgres_partial_indexes(
        database_url: str) -> None:
    """PostgreSQL: 0011 flags the revisions whose text their message no longer holds,
    its triggers keep the flag whatever writes the rows, the revisions' search indexes
    hold only those, and the auditor's search still finds every text; the downgrade
    indexes every revision again."""
    if database_url.startswith("sqlite"):
        pytest.skip("0011 changes nothing on SQLite (0008 did this there)")
    in_own_thread(lambda: upgrade(database_url, "0010"))
    await _write_messages(database_url)
    in_own_thread(lambda: upgrade(database_url, "0011"))
    assert await _flagged_revisions(database_url) == {(1, 1)}
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            # An edit as the edit path writes it (the message, then its new revision)...
            await conn.execute(text("UPDATE messages SET body = '窓口は閑散', revision = 2 "
                                    "WHERE id = 2"))
            await conn.execute(text(
                "INSERT INTO message_revisions (message_id, revision, action, body, "
                "actor_id, created_at) VALUES (2, 2, 'edit', '窓口は閑散', 1, now())"))
        assert await _flagged_revisions(database_url) == {(1, 1), (2, 1)}
        async with db.engine.begin() as conn:
            # ... a revision written before its message's text (flagged, then not),
            # several in one statement, a revision's text corrected, an edit back.
            await conn.execute(text(
                "INSERT INTO message_revisions (message_id, revision, action, body, "
                "actor_id, created_at) VALUES (1, 3, 'edit', '避難所は満員', 1, now()), "
                "(2, 3, 'edit', '窓口は閑散', 1, now())"))
            assert await _flagged_in(conn) == {(1, 1), (1, 3), (2, 1)}
            await conn.execute(text("UPDATE messages SET body = '避難所は満員', "
                                    "revision = 3 WHERE id = 1"))
            assert await _flagged_in(conn) == {(1, 1), (1, 2), (2, 1)}
            await conn.execute(text("UPDATE message_revisions SET body = '窓口は閑散' "
                                    "WHERE message_id = 2 AND revision = 1"))
            assert await _flagged_in(conn) == {(1, 1), (1, 2)}
            await conn.execute(text("UPDATE messages SET body = '雨で延期' WHERE id = 1"))
            assert await _flagged_in(conn) == {(1, 2), (1, 3)}
        assert await _revision_index_predicates(db) == {" WHERE superseded"}
    finally:
        await db.dispose()
    # The auditor's search, as this release asks it (alembic 0021's folded texts).
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        async with unit_of_work(db, TxMode.READ) as uow:
            for word, found in [("雨", [1]), ("避難所", [1]), ("満員", [1]), ("開設", [1]),
                                ("閑散", [2]), ("混雑", []), ("窓口", [2])]:
                records, _ = await uow.records.page(RecordQuery(words=(word,)),
                                                    before_id=None, limit=9)
                assert [r.id for r in records] == found, word
    finally:
        await db.dispose()
    in_own_thread(lambda: command.downgrade(alembic_config(database_url), "0010"))
    db = Database(database_url)
    try:
        assert await _revision_index_predicates(db) == {""}
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda c: [col["name"] for col in inspect(c).get_columns("message_revisions")])
        assert "superseded" not in columns
    finally:
        await db.dispose()


async def test_0012_plans_the_flagging_statement_at_each_batch(database_url: str) -> None:
    """PostgreSQL: 0012's trigger runs its statement with EXECUTE (planned for the
    tables as they are, tests/integration/test_pg_plans.py) and flags as 0011's did;
    the downgrade restores 0011's function."""
    if database_url.startswith("sqlite"):
        pytest.skip("0012 changes nothing on SQLite")
    in_own_thread(lambda: upgrade(database_url, "0011"))
    await _write_messages(database_url)
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        assert "EXECUTE" in await _flagging_source(db)
        async with db.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO message_revisions (message_id, revision, action, body, "
                "actor_id, created_at) VALUES (2, 2, 'edit', '窓口は閑散', 1, now()), "
                "(2, 3, 'edit', '窓口は混雑', 1, now())"))
            assert await _flagged_in(conn) == {(1, 1), (2, 2)}
    finally:
        await db.dispose()
    in_own_thread(lambda: command.downgrade(alembic_config(database_url), "0011"))
    db = Database(database_url)
    try:
        assert "EXECUTE" not in await _flagging_source(db)
    finally:
        await db.dispose()


async def _flagging_source(db: Database) -> str:
    async with db.engine.connect() as conn:
        return str(await conn.scalar(text(
            "SELECT prosrc FROM pg_proc WHERE proname = 'tsunagu_revisions_inserted'")))


async def _flagged_revisions(database_url: str) -> set[tuple[int, int]]:
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            return await _flagged_in(conn)
    finally:
        await db.dispose()


async def _flagged_in(conn: Any) -> set[tuple[int, int]]:
    """(message id, revision) of the revisions flagged as superseded (alembic 0010)."""
    rows = await conn.execute(text(
        "SELECT message_id, revision FROM message_revisions WHERE superseded"))
    return {(int(m), int(r)) for m, r in rows}


async def _revision_index_predicates(db: Database) -> set[str]:
    """What follows the expression in each revisions' search index definition."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname IN "
            "('ix_message_revisions_body_trgm', 'ix_message_revisions_body_grams')"))
        definitions = [row[0] for row in rows]
    assert len(definitions) == 2
    return {definition.rsplit(")", 1)[1] for definition in definitions}


async def test_0009_notes_new_messages_and_its_downgrade_indexes_them(
        database_url: str) -> None:
    """SQLite: from 0009 a message written by anyone is noted, not indexed, until its
    note is deleted; the messages already indexed stay so and follow their edits; the
    searches find both; the downgrade indexes the noted ones and restores 0008's way."""
    if not database_url.startswith("sqlite"):
        pytest.skip("0009 changes nothing on PostgreSQL")
    in_own_thread(lambda: upgrade(database_url, "0008"))
    await _write_messages(database_url)
    in_own_thread(lambda: upgrade(database_url, "0009"))
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            assert (await conn.scalar(text("SELECT count(*) FROM messages_unindexed"))) == 0
            # An outside writer: a new message (noted), an edit of an indexed one.
            await conn.execute(text(
                "INSERT INTO messages (id, channel_id, seq, version, sender_id, kind, body, "
                "revision, created_at) VALUES (3, 1, 3, 4, 1, 'text', '雷で停電', 1, "
                "'2026-04-01 00:00:00.000000')"))
            await conn.execute(text("UPDATE messages SET body = '窓口は閑散' WHERE id = 2"))
            assert (await conn.scalars(text("SELECT id FROM messages_unindexed"))).all() == [3]
            with pytest.raises(Exception, match="a message id never changes"):
                await conn.execute(text("UPDATE messages SET id = 9 WHERE id = 1"))
    finally:
        await db.dispose()
    # Searched as this release searches (alembic 0021 folds the texts; noted stay noted).
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        async def found(word: str) -> list[int]:
            async with unit_of_work(db, TxMode.READ) as uow:
                return [m.id for m, _ in
                        await uow.messages.search_visible(1, word, limit=9)]

        expected = {"雷": [3], "停電": [3], "雷で停電": [3], "閑散": [2], "混雑": [],
                    "窓口": [2], "開設": [1]}
        assert {word: await found(word) for word in expected} == expected
    finally:
        await db.dispose()
    in_own_thread(lambda: command.downgrade(alembic_config(database_url), "0008"))
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            for table, match, rowids in (("messages_grams", sqlite_gram_match("停電"), [3]),
                                         ("messages_fts", '"雷で停電"', [3]),
                                         ("messages_grams", sqlite_gram_match("混雑"), [])):
                assert (await conn.scalars(text(
                    f"SELECT rowid FROM {table} WHERE {table} MATCH :q"),
                    {"q": match})).all() == rowids, (table, match)
            triggers = set((await conn.scalars(text(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"))).all())
            assert {"messages_fts_ai", "messages_grams_ai"} <= triggers
            assert not any(name.startswith("messages_unindexed") for name in triggers)
            for table in ("messages_grams", "messages_fts"):
                await conn.execute(text(
                    f"INSERT INTO {table}({table}) VALUES ('integrity-check')"))
    finally:
        await db.dispose()


async def _indexed_revisions(database_url: str) -> set[tuple[int, int]]:
    """(message id, revision) of the revisions the SQLite grams index finds by the
    first pair of their own text; the index passes FTS5's integrity check."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            revisions = (await conn.execute(text(
                "SELECT message_id, revision, body FROM message_revisions"))).all()
            found = set()
            for message_id, number, body in revisions:
                rowids = (await conn.scalars(text(
                    "SELECT rowid FROM message_revisions_grams "
                    "WHERE message_revisions_grams MATCH :q"),
                    {"q": sqlite_gram_match(body[:2])})).all()
                if message_id << 20 | number in rowids:
                    found.add((message_id, number))
            await conn.execute(text("INSERT INTO message_revisions_grams"
                                    "(message_revisions_grams) VALUES ('integrity-check')"))
            return found
    finally:
        await db.dispose()
