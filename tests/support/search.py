"""What the search tests share (tests/integration/test_search_index.py,
test_search_fold.py): a person's channels, filling a channel, the index held exactly,
the statements a search runs."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, insert, select, text, update

from chat.actions.message_search import index_search_backlog
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.store.models import Channel, Membership, Message, MessageRevision
from chat.store.search import sqlite_gram_match
from chat.store.uow import TxMode, unit_of_work


async def channels_of(ctx: AppContext, user_id: int) -> dict[str, int]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        rows = await uow.session.execute(
            select(Channel.kind, Channel.name, Channel.id)
            .join(Membership, Membership.channel_id == Channel.id)
            .where(Membership.user_id == user_id))
        return {name if kind == "group" else kind: channel_id
                for kind, name, channel_id in rows}


async def noted_ids(ctx: AppContext) -> set[int]:
    """Messages noted as not indexed yet (SQLite, alembic 0009)."""
    if ctx.db.dialect != "sqlite":
        return set()
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return set((await uow.session.scalars(text("SELECT id FROM messages_unindexed"))).all())




def reference_grams(body: str) -> set[str]:
    """Alembic 0007's grams of a text, written again independently: lower(text) as
    SQLite folds it (ASCII letters only), every character and every adjacent pair."""
    folded = "".join(c.lower() if "A" <= c <= "Z" else c for c in body)
    return set(folded) | {folded[i:i + 2] for i in range(len(folded) - 1)}


async def assert_index_holds_exactly_the_rows(ctx: AppContext) -> None:
    """Not one row too many (a stale entry left by an update or delete) or too few: for
    every gram, the index's rows are the rows whose text has that gram (on SQLite,
    those of the messages not noted as unindexed)."""
    noted = await noted_ids(ctx)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        # The indexes hold the stored fold, or the text where none is stored (0021).
        messages = [(i, c, f if f is not None else b) for i, c, f, b in (
            await uow.session.execute(select(Message.id, Message.channel_id,
                                             Message.search_text, Message.body))).all()]
        revisions = [(m, r, f if f is not None else b) for m, r, f, b in (
            await uow.session.execute(select(
                MessageRevision.message_id, MessageRevision.revision,
                MessageRevision.search_text, MessageRevision.body))).all()]
        # Superseded: the revision's text is not its message's (compared unfolded).
        bodies = dict((await uow.session.execute(select(Message.id, Message.body))).all())
        revision_bodies = {(m, r): b for m, r, b in (await uow.session.execute(select(
            MessageRevision.message_id, MessageRevision.revision,
            MessageRevision.body))).all()}
        current = {i: b for i, _, b in messages}
        grams = set().union(*(reference_grams(b) for *_, b in messages),
                            *(reference_grams(b) for *_, b in revisions))
        if ctx.db.dialect == "postgresql":
            # The flag the partial indexes rest on is exact, whatever wrote the rows.
            flagged = set((await uow.session.execute(text(
                "SELECT message_id, revision FROM message_revisions WHERE superseded"))).all())
            assert flagged == {(m, r) for m, r, _ in revisions
                               if bodies.get(m) != revision_bodies[m, r]}
        for gram in sorted(grams):
            want_messages = {i for i, _, b in messages
                             if gram in reference_grams(b) and i not in noted}
            # A revision is indexed only while its message holds another text
            # (SQLite: alembic 0008; PostgreSQL: 0010's partial indexes).
            want_superseded = {(m, r) for m, r, b in revisions
                               if gram in reference_grams(b)
                               and bodies.get(m) != revision_bodies[m, r]}
            if ctx.db.dialect == "sqlite":
                match = {"q": sqlite_gram_match(gram)}
                got_messages = set((await uow.session.scalars(text(
                    "SELECT rowid FROM messages_grams WHERE messages_grams MATCH :q"),
                    match)).all())
                got_revisions = {(rowid >> 20, rowid & 0xFFFFF) for rowid in (
                    await uow.session.scalars(text(
                        "SELECT rowid FROM message_revisions_grams "
                        "WHERE message_revisions_grams MATCH :q"), match)).all()}
            else:
                got_messages = set((await uow.session.scalars(text(
                    "SELECT id FROM messages WHERE tsunagu_search_grams("
                    "coalesce(search_text, body)) @> tsunagu_query_grams(:g)"),
                    {"g": gram})).all())
                # The revisions' index is partial: superseded texts only (alembic 0010).
                got_revisions = set((await uow.session.execute(text(
                    "SELECT message_id, revision FROM message_revisions WHERE superseded "
                    "AND tsunagu_search_grams(coalesce(search_text, body)) "
                    "@> tsunagu_query_grams(:g)"),
                    {"g": gram})).all())
            # PostgreSQL folds more than ASCII (lower() in the database's locale), so
            # it may hold a row more; never one fewer.
            if ctx.db.dialect == "sqlite":
                assert got_messages == want_messages, gram
                assert got_revisions == want_superseded, gram
            else:
                assert want_messages <= got_messages, gram
                assert want_superseded <= got_revisions, gram
        if ctx.db.dialect == "sqlite":
            for channel_id in {c for _, c, _ in messages}:
                in_index = set((await uow.session.scalars(text(
                    "SELECT rowid FROM messages_grams WHERE messages_grams MATCH :q"),
                    {"q": f"ch{channel_id}"})).all())
                assert in_index == {i for i, c, _ in messages
                                    if c == channel_id and i not in noted}
            assert noted <= set(current)
            for table in ("messages_grams", "message_revisions_grams", "messages_fts"):
                await uow.session.execute(text(
                    f"INSERT INTO {table}({table}) VALUES ('integrity-check')"))


@contextmanager
def captured_statements(ctx: AppContext) -> Iterator[list[tuple[str, Any]]]:
    from sqlalchemy import event

    statements: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        statements.append((statement, parameters))

    event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(ctx.db.engine.sync_engine, "before_cursor_execute", keep)


async def fill_channel(ctx: AppContext, person: Principal, channel: int, count: int,
                       rare: dict[str, int], *, index: bool = True) -> None:
    """``count`` messages in ``channel`` (varied text: kanji drawn from 512), with each
    ``rare`` word in a few of them, and statistics gathered as autovacuum would: a
    table where an index is worth using. On SQLite they are indexed, as a send would
    (``index``), or left noted."""
    rng = random.Random(3)
    kanji = [chr(c) for c in range(0x4E00, 0x5000)]
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        seq = int(await uow.session.scalar(
            select(func.max(Message.seq)).where(Message.channel_id == channel)) or 0)
        first_id = int(await uow.session.scalar(select(func.max(Message.id))) or 0) + 1
    now = ctx.clock.now()
    bodies = ["".join(rng.choices(kanji, k=rng.randint(8, 30))) for _ in range(count)]
    for word, times in rare.items():
        for i in range(times):
            bodies[i * 97 % count] += word
    rows = [{"id": first_id + i, "channel_id": channel, "seq": seq + 1 + i,
             "version": seq + 1 + i, "sender_id": person.user_id, "client_id": f"f{first_id + i}",
             "kind": "text", "body": body, "revision": 1, "created_at": now}
            for i, body in enumerate(bodies)]
    async with ctx.db.engine.begin() as conn:
        await conn.execute(insert(Message), rows)
        # As a send leaves them, so a later send follows: the channel's counters and,
        # on PostgreSQL, the ids' sequence (these ids were given).
        await conn.execute(update(Channel).where(Channel.id == channel).values(
            last_seq=seq + count, last_version=seq + count))
        if ctx.db.dialect == "postgresql":
            await conn.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('messages', 'id'), max(id)) "
                "FROM messages")
        await conn.execute(insert(MessageRevision), [
            {"message_id": r["id"], "revision": 1, "action": "create", "body": r["body"],
             "actor_id": person.user_id, "created_at": now} for r in rows])
    if index:  # in batches of 500, each its own transaction
        assert await index_search_backlog(ctx) == (count if ctx.db.dialect == "sqlite" else 0)
    if ctx.db.dialect == "postgresql":
        # What autovacuum does after many inserts: statistics, and the GIN indexes'
        # pending entries merged (until then every search reads them all).
        async with ctx.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE messages")
            await conn.exec_driver_sql("VACUUM ANALYZE message_revisions")
