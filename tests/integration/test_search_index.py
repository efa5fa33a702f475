"""The search indexes (chat/store/search.py) on a real database, SQLite and PostgreSQL:
words of every length find exactly what a LIKE scan finds, through edits, deletes,
purges and bulk writes, and the queries are answered from the indexes."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.engine import make_url

from chat.actions import retention as retention_actions
from chat.actions.message_edits import delete_message, edit_message
from chat.actions.message_search import index_search_backlog
from chat.actions.messages import send_message
from chat.actions.notices import post_notice
from chat.auth.sessions import Principal
from chat.config import Settings
from chat.context import AppContext, open_context
from chat.demo import _principals
from chat.domain.kinds import MessageKind
from chat.domain.search_fold import search_fold
from chat.store.models import Membership, Message, MessageRevision
from chat.store.records import RecordQuery
from chat.store.search import folded_text, like_pattern
from chat.store.uow import TxMode, unit_of_work
from tests.support import ManualClock, base_settings, prepare_database
from tests.support.people import ITO, SUZUKI, TANAKA
from tests.support.search import (
    assert_index_holds_exactly_the_rows,
    captured_statements,
    channels_of,
    fill_channel,
    noted_ids,
)

# Pieces of message text: two-character words, single characters, Latin letters in
# both cases (fullwidth too), LIKE wildcards and the escape character, a character
# outside the BMP, and a space.
PIECES = ["防災", "窓口", "避難", "訓練", "雨", "の", "A", "a", "Ab", "aB", "%", "_", "\\",
          "ＰＣ", "ｐｃ", "é", "É", "😀", "雷", " ", "防災訓練", "窓口の混雑"]
ABSENT = ["台風", "x", "Zz", "%%", "_a", "\\%", "雷雨", "😀😀"]
YEAR = timedelta(days=365)


@dataclass
class Story:
    """What the corpus holds, and who searches it."""

    suzuki: Principal  # in the group chat whose old messages were purged
    ito: Principal  # not in it
    texts: list[str]  # every text ever written, revisions included
    purged: list[int]
    edited: list[int]
    deleted: list[int]


@pytest.fixture
async def ctx(database_url: str, tmp_path: Path) -> AsyncIterator[AppContext]:
    settings = base_settings(database_url, tmp_path / "var")
    prepare_database(settings, seed=True)
    async with open_context(settings) as context:
        yield context


def _body(rng: random.Random) -> str:
    body = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4)))
    return body if body.strip() else body + "雨"  # the app refuses blank messages


async def tell_story(settings: Settings) -> Story:
    """Messages from three people in their channels through the actions the app uses:
    some edited (the old text survives only as a revision), some deleted, and a group
    chat's messages of three years ago purged by a retention run."""
    rng = random.Random(20261126)
    texts: list[str] = []
    edited: list[int] = []
    deleted: list[int] = []
    three_years_ago = ManualClock()
    three_years_ago.advance(-3 * YEAR.total_seconds())
    async with open_context(settings, clock=three_years_ago) as old:
        people = await _principals(old)
        suzuki, tanaka, ito = people[SUZUKI], people[TANAKA], people[ITO]
        group = (await channels_of(old, suzuki.user_id))["忘年会幹事"]
        purged = []
        for i in range(12):
            body = _body(rng)
            texts.append(body)
            sent = await send_message(old, actor=suzuki if i % 2 else tanaka,
                                      channel_id=group, client_id=f"old-{i}", body=body)
            purged.append(sent.message["id"])
    async with open_context(settings) as ctx:
        for n, person in enumerate([suzuki, tanaka, ito] * 20):
            channels = list((await channels_of(ctx, person.user_id)).items())
            channels = [(k, c) for k, c in channels if k != "announcement"]
            channel = channels[n % len(channels)][1]
            body = _body(rng)
            texts.append(body)
            sent = await send_message(ctx, actor=person, channel_id=channel,
                                      client_id=f"new-{n}", body=body)
            message_id = sent.message["id"]
            if n % 5 == 1:
                body = _body(rng)
                texts.append(body)
                await edit_message(ctx, actor=person, message_id=message_id, body=body)
                edited.append(message_id)
            elif n % 7 == 3:
                await delete_message(ctx, actor=person, message_id=message_id)
                deleted.append(message_id)
        await retention_actions.set_policy(ctx, channel_id=group, keep_years=1, by="test")
        report = await retention_actions.run_retention(ctx, by="test")
        assert report.purged_messages == len(purged)
    return Story(suzuki=suzuki, ito=ito, texts=texts, purged=purged, edited=edited,
                 deleted=deleted)


def words_of(texts: list[str]) -> list[str]:
    """Every one- and two-character substring, their Latin case variants, words that
    occur nowhere, and a few longer ones (the trigram path)."""
    words = {body[i:i + n] for body in texts for n in (1, 2) for i in range(len(body))}
    words |= {w.swapcase() for w in words} | set(ABSENT)
    words |= {"防災訓練", "窓口の混雑", "AB防", "%_\\", "ｐｃ窓"}
    return sorted(w for w in words if w.strip())


async def like_scan_visible(ctx: AppContext, user_id: int, word: str) -> list[int]:
    """What a person's search must return: the scan the index replaces, of the folded
    texts as stored (alembic 0021; the text where a writer stored no fold) for the
    folded word (chat/domain/search_fold.py)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return list((await uow.session.scalars(
            select(Message.id)
            .join(Membership, (Membership.channel_id == Message.channel_id)
                  & (Membership.user_id == user_id))
            .where(Message.deleted_at.is_(None), _holds(Message, word))
            .order_by(Message.id.desc()))).all())


def _holds(row: Any, word: str) -> Any:
    return folded_text(row).ilike(like_pattern(search_fold(word)), escape="\\")


async def like_scan_records(ctx: AppContext, words: tuple[str, ...]) -> list[int]:
    """What the auditor's search must return: messages with each word in a revision."""
    stmt = select(Message.id).order_by(Message.id.desc())
    for word in words:
        stmt = stmt.where(exists().where(MessageRevision.message_id == Message.id,
                                         _holds(MessageRevision, word)))
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        return list((await uow.session.scalars(stmt)).all())


async def searched_visible(ctx: AppContext, user_id: int, word: str,
                           channel_id: int | None = None) -> list[int]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        hits = await uow.messages.search_visible(user_id, word, limit=10_000,
                                                 channel_id=channel_id)
    return [message.id for message, _ in hits]


async def searched_records(ctx: AppContext, words: tuple[str, ...]) -> tuple[list[int], int]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        records, more = await uow.records.page(RecordQuery(words=words), before_id=None,
                                               limit=10_000)
        count = await uow.records.count(RecordQuery(words=words))
    assert not more
    return [r.id for r in records], count


# --- exact results -----------------------------------------------------------------------

async def test_every_short_word_finds_exactly_what_a_like_scan_finds(ctx: AppContext
                                                                      ) -> None:
    story = await tell_story(ctx.settings)
    words = words_of(story.texts)
    assert len(words) > 150
    found_any = 0
    for word in words:
        for person in (story.suzuki, story.ito):
            expected = await like_scan_visible(ctx, person.user_id, word)
            assert await searched_visible(ctx, person.user_id, word) == expected, word
            found_any += bool(expected)
        expected = await like_scan_records(ctx, (word,))
        assert await searched_records(ctx, (word,)) == (expected, len(expected)), word
    assert found_any > 100  # the corpus exercises the index, not just empty results
    # Two words must both be in revisions (not necessarily the same one).
    for pair in [("防災", "窓口"), ("a", "É"), ("%", "雨"), ("の", "台風")]:
        expected = await like_scan_records(ctx, pair)
        assert await searched_records(ctx, pair) == (expected, len(expected)), pair


async def test_edited_deleted_and_purged_text_is_found_only_where_it_still_is(
        ctx: AppContext) -> None:
    story = await tell_story(ctx.settings)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        purged = (await uow.session.execute(
            select(Message.body, Message.purged_at).where(Message.id.in_(story.purged))
        )).all()
        first_texts = dict((await uow.session.execute(
            select(MessageRevision.message_id, MessageRevision.body)
            .where(MessageRevision.revision == 1,
                   MessageRevision.message_id.in_(story.edited + story.deleted)))).all())
    assert all(body == "" and at is not None for body, at in purged)
    for message_id in story.edited + story.deleted:
        word = first_texts[message_id][:2]
        # A person finds a message by its current text only; an auditor by any revision.
        assert message_id in (await searched_records(ctx, (word,)))[0]
        if message_id in story.deleted:
            assert message_id not in await searched_visible(ctx, story.suzuki.user_id, word)
    for word in {body[:2] for body in story.texts[:12]}:
        found = set(await searched_visible(ctx, story.suzuki.user_id, word))
        assert not found & set(story.purged)
        assert not set((await searched_records(ctx, (word,)))[0]) & set(story.purged)


async def test_a_search_in_one_channel_finds_only_that_channels_messages(
        ctx: AppContext) -> None:
    story = await tell_story(ctx.settings)
    channels = await channels_of(ctx, story.suzuki.user_id)
    for channel_id in channels.values():
        for word in ("防災", "a", "の", "防災訓練"):
            everywhere = await like_scan_visible(ctx, story.suzuki.user_id, word)
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                in_channel = set((await uow.session.scalars(
                    select(Message.id).where(Message.channel_id == channel_id))).all())
            assert await searched_visible(ctx, story.suzuki.user_id, word, channel_id) == [
                m for m in everywhere if m in in_channel]
    # A channel the person is not in finds nothing, even where the word is.
    others = set((await channels_of(ctx, story.ito.user_id)).values()) - set(channels.values())
    assert others
    for channel_id in others:
        assert await searched_visible(ctx, story.suzuki.user_id, "の", channel_id) == []


async def test_a_long_message_is_indexed_to_its_last_characters(ctx: AppContext) -> None:
    people = await _principals(ctx)
    suzuki = people[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    body = "あ" * (ctx.settings.max_message_chars - 2) + "雹害"
    sent = await send_message(ctx, actor=suzuki, channel_id=channel, client_id="long",
                              body=body)
    message_id = sent.message["id"]
    for word in ("雹害", "害", "あ雹"):
        assert message_id in await searched_visible(ctx, suzuki.user_id, word)
        assert message_id in (await searched_records(ctx, (word,)))[0]


async def test_a_notice_is_indexed_in_its_own_transaction(ctx: AppContext) -> None:
    """A PBX notice or memo is written through the ORM, not the send path: it is
    indexed before its transaction commits too (no note left, alembic 0009)."""
    suzuki = (await _principals(ctx))[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        message, _ = await post_notice(
            ctx, uow, channel_id=channel, kind=MessageKind.MEMO, body="伝言: 雹害の件で折り返し",
            card={}, now=ctx.clock.now(), caller_number=None, target_key=None,
            actor_user_id=None)
    assert not await noted_ids(ctx)
    for word in ("雹", "雹害", "折り返し"):
        assert message.id in await searched_visible(ctx, suzuki.user_id, word), word
    await assert_index_holds_exactly_the_rows(ctx)


# --- writes the application does not make one row at a time -------------------------------

async def test_bulk_inserts_updates_and_deletes_keep_the_index_exact(ctx: AppContext) -> None:
    """Multi-row INSERTs (executemany and one INSERT … VALUES of many rows), a multi-row
    UPDATE of the text (what a purge does) and a DELETE cascading to revisions: the
    index follows each row, on every backend."""
    people = await _principals(ctx)
    suzuki = people[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    rng = random.Random(7)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        seq = int(await uow.session.scalar(
            select(func.max(Message.seq)).where(Message.channel_id == channel)) or 0)
        first_id = int(await uow.session.scalar(select(func.max(Message.id))) or 0) + 1
    now = ctx.clock.now()
    rows = [{"id": first_id + i, "channel_id": channel, "seq": seq + 1 + i,
             "version": seq + 1 + i, "sender_id": suzuki.user_id, "client_id": f"bulk-{i}",
             "kind": "text", "body": _body(rng), "revision": 1, "created_at": now}
            for i in range(300)]
    revisions = [{"message_id": r["id"], "revision": 1, "action": "create",
                  "body": r["body"], "actor_id": suzuki.user_id, "created_at": now}
                 for r in rows]
    ids = [r["id"] for r in rows]
    async with ctx.db.engine.begin() as conn:
        await conn.execute(insert(Message), rows[:200])  # executemany
        await conn.execute(insert(Message).values(rows[200:]))  # one multi-row statement
        await conn.execute(insert(MessageRevision), revisions)
        # A writer outside the app that changes a text clears its fold (alembic 0021).
        await conn.execute(update(Message).where(Message.id.in_(ids[:50]))
                           .values(body="", search_text=None, purged_at=now))
        await conn.execute(delete(MessageRevision)
                           .where(MessageRevision.message_id.in_(ids[:50])))
        await conn.execute(delete(Message).where(Message.id.in_(ids[250:])))
    words = [*words_of([str(r["body"]) for r in rows])[:80], "防災", "の", "a", "防災訓練"]
    # On SQLite these rows are noted, not indexed (alembic 0009), until a send indexes
    # them: found all the same, by the scan of the notes, then by the index.
    for indexed in (False, True):
        if indexed:  # what every node's periodic job does
            assert await index_search_backlog(ctx) == (
                250 if ctx.db.dialect == "sqlite" else 0)
        for word in words:
            expected = await like_scan_visible(ctx, suzuki.user_id, word)
            assert await searched_visible(ctx, suzuki.user_id, word) == expected, word
            expected = await like_scan_records(ctx, (word,))
            assert (await searched_records(ctx, (word,)))[0] == expected, word
        await assert_index_holds_exactly_the_rows(ctx)
        assert len(await noted_ids(ctx)) == (0 if indexed or ctx.db.dialect != "sqlite"
                                             else 250)
    if ctx.db.dialect == "sqlite":
        # Nothing left: the job only reads, so another writer holding the write lock
        # (here, the sqlite3 shell's) does not hold it up.
        shell = sqlite3.connect(make_url(ctx.settings.database_url).database or "",
                                isolation_level=None)
        try:
            shell.execute("BEGIN IMMEDIATE")
            assert await asyncio.wait_for(index_search_backlog(ctx), 2) == 0
        finally:
            shell.close()


async def test_the_story_leaves_the_index_exact(ctx: AppContext) -> None:
    await tell_story(ctx.settings)
    assert not await noted_ids(ctx)  # each send indexed its own messages
    await assert_index_holds_exactly_the_rows(ctx)


# --- the index answers ---------------------------------------------------------------------

async def plan_of(ctx: AppContext, search: Callable[[], Any], reading: str = "") -> str:
    """The plan of the search's page query (its last statement with a LIMIT; the last
    that also reads ``reading``, if given), as the database would run it."""
    with captured_statements(ctx) as statements:
        await search()
    statement, parameters = next(s for s in reversed(statements)
                                 if "LIMIT" in s[0] and reading in s[0])
    async with ctx.db.engine.connect() as conn:
        if ctx.db.dialect == "sqlite":
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in rows)
        # As the search runs it: planned for its values (chat.store.search).
        await conn.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
        rows = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize(("word", "sqlite_index", "postgres_index"), [
    ("雹", "messages_grams", "ix_messages_search_grams"),
    ("雹害", "messages_grams", "ix_messages_search_grams"),
    ("雹害対策", "messages_fts", "ix_messages_search_trgm"),
])
async def test_a_persons_search_is_answered_from_the_index(
        ctx: AppContext, word: str, sqlite_index: str, postgres_index: str) -> None:
    suzuki = (await _principals(ctx))[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    await fill_channel(ctx, suzuki, channel, 20_000, {"雹害対策": 5})
    plan = await plan_of(ctx, lambda: searched_visible(ctx, suzuki.user_id, word))
    if ctx.db.dialect == "sqlite":
        # The FTS table drives the query newest first: no scan of messages, no sort.
        assert f"SCAN {sqlite_index} VIRTUAL TABLE INDEX" in plan, plan
        assert "SCAN messages" not in plan.replace(f"SCAN {sqlite_index}", ""), plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert postgres_index in plan, plan
    assert len(await searched_visible(ctx, suzuki.user_id, word)) == 5
    if ctx.db.dialect == "sqlite":
        # A message another writer adds is noted, not indexed (alembic 0009): found
        # through its note, and the notes, not the messages, drive that query.
        await fill_channel(ctx, suzuki, channel, 1, {"雹害対策": 1}, index=False)
        noted = await plan_of(ctx, lambda: searched_visible(ctx, suzuki.user_id, word),
                              reading="FROM messages_unindexed JOIN")
        assert "SCAN messages_unindexed" in noted, noted
        assert "SCAN messages " not in noted + " " and "TEMP B-TREE" not in noted, noted
        assert len(await searched_visible(ctx, suzuki.user_id, word)) == 6


@pytest.mark.parametrize(("word", "postgres_indexes"), [
    ("雹", ("ix_messages_search_grams", "ix_message_revisions_search_grams")),
    ("雹害", ("ix_messages_search_grams", "ix_message_revisions_search_grams")),
    ("雹害対策", ("ix_messages_search_trgm", "ix_message_revisions_search_trgm")),
])
async def test_an_auditors_search_is_answered_from_the_index(
        ctx: AppContext, word: str, postgres_indexes: tuple[str, str]) -> None:
    suzuki = (await _principals(ctx))[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    await fill_channel(ctx, suzuki, channel, 20_000, {"雹害対策": 5})
    # On PostgreSQL the statement that reads older messages through the indexes, after
    # the newest window (chat.store.records, ``_newest_matching_ids``).
    plan = await plan_of(ctx, lambda: searched_records(ctx, (word,)),
                         reading="" if ctx.db.dialect == "sqlite" else "UNION ALL")
    if ctx.db.dialect == "sqlite":
        # Superseded texts from the revisions' grams, current ones from the messages'.
        for index in ("message_revisions_grams", "messages_grams"):
            assert f"SCAN {index} VIRTUAL TABLE INDEX" in plan, plan
            plan = plan.replace(f"SCAN {index} VIRTUAL TABLE", "")
        # And the messages not indexed yet (alembic 0009): their notes, not messages.
        assert "SCAN messages_unindexed" in plan, plan
        plan = plan.replace("SCAN messages_unindexed", "")
        assert "SCAN messages" not in plan and "SCAN message_revisions " not in plan, plan
    else:
        # Current texts through the messages' index, superseded ones through the
        # revisions' partial index (alembic 0010); neither table scanned.
        for index in postgres_indexes:
            assert index in plan, plan
        assert "Seq Scan on message" not in plan, plan
    assert len((await searched_records(ctx, (word,)))[0]) == 5
