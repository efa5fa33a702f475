"""Search folds width, kana, case and telephone numbers' hyphens (chat/domain/search_fold.py,
alembic 0021) on a real database, SQLite and PostgreSQL: through a person's search (the
action behind ``GET /api/search/messages``) and the auditor's, for words of every
length, through edits and purges, for rows written before the upgrade; and PostgreSQL's
person search reads a bounded number of messages whatever its plan."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, inspect, select, text

from chat.actions import message_search
from chat.actions import retention as retention_actions
from chat.actions.message_edits import edit_message
from chat.actions.messages import send_message
from chat.actions.notices import post_notice
from chat.context import AppContext, open_context
from chat.demo import _principals
from chat.domain.cards.missed_call import MissedCall
from chat.domain.kinds import MessageKind
from chat.domain.notices import Caller, FollowUp
from chat.domain.numbers import normalise
from chat.store.db import Database
from chat.store.migrations import alembic_config, upgrade
from chat.store.models import Channel, Membership, Message, MessageRevision, User
from chat.store.records import RecordQuery
from chat.store.search import NEWEST_WINDOW
from chat.store.uow import TxMode, unit_of_work
from tests.support import ManualClock, base_settings, in_own_thread, prepare_database
from tests.support.people import SUZUKI
from tests.support.search import (
    assert_index_holds_exactly_the_rows,
    captured_statements,
    channels_of,
    fill_channel,
)

# Each group: spellings that must find each other, as words and inside texts.
SPELLINGS = [
    ("ｶﾀｶﾅ", "カタカナ", "かたかな"),
    ("ｶﾅ", "カナ", "かな"),                    # two characters: the grams index
    ("ｶ", "カ", "か"),                          # one character
    ("ＡＢＣ", "ABC", "abc"),
    ("ＡＢ", "AB", "ab"),
]


@pytest.fixture
async def ctx(database_url: str, tmp_path: Path) -> AsyncIterator[AppContext]:
    settings = base_settings(database_url, tmp_path / "var")
    prepare_database(settings, seed=True)
    async with open_context(settings) as context:
        yield context


async def staff_search(ctx: AppContext, word: str) -> set[int]:
    suzuki = (await _principals(ctx))[SUZUKI]
    results = await message_search.search(ctx, actor=suzuki, query=word, limit=100)
    return {int(r["id"]) for r in results}


async def auditor_search(ctx: AppContext, *words: str) -> set[int]:
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        records, _ = await uow.records.page(RecordQuery(words=words), before_id=None,
                                            limit=100)
        count = await uow.records.count(RecordQuery(words=words))
    assert count == len(records)
    return {r.id for r in records}


async def send(ctx: AppContext, body: str, client_id: str) -> int:
    suzuki = (await _principals(ctx))[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    sent = await send_message(ctx, actor=suzuki, channel_id=channel, client_id=client_id,
                              body=f"連絡：{body}です")
    return int(sent.message["id"])


async def test_every_spelling_finds_every_other(ctx: AppContext) -> None:
    kana = {await send(ctx, spelling, f"k{n}") for n, spelling in enumerate(SPELLINGS[0])}
    latin = {await send(ctx, spelling, f"l{n}") for n, spelling in enumerate(SPELLINGS[3])}
    unrelated = await send(ctx, "平仮名と漢字", "other")
    sent = kana | latin | {unrelated}
    for group in SPELLINGS:
        expected = kana if group[1].startswith("カ") else latin
        for word in group:
            assert await staff_search(ctx, word) & sent == expected, word
            assert await auditor_search(ctx, word) & sent == expected, word
    # Case stays insensitive for Latin letters, full-width or not.
    for word in ("abc", "ＡＢＣ", "ａｂｃ", "aBc", "Ｃ"):
        assert await staff_search(ctx, word) & sent == latin, word
    await assert_index_holds_exactly_the_rows(ctx)


async def test_a_send_folds_its_text_once_for_the_message_and_its_revision(
        ctx: AppContext, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folding is most of a short text's Python work on the way in: a send's first
    revision is given its message's fold, not folded again."""
    from chat.store import messages as message_store
    folded: list[str] = []
    fold = message_store.search_fold

    def counted(body: str) -> str:
        folded.append(body)
        return fold(body)

    monkeypatch.setattr(message_store, "search_fold", counted)
    message_id = await send(ctx, "ｶﾀｶﾅ", "once")
    assert folded == ["連絡：ｶﾀｶﾅです"]
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        texts = (await uow.session.execute(
            select(Message.search_text, MessageRevision.search_text)
            .join(MessageRevision, MessageRevision.message_id == Message.id)
            .where(Message.id == message_id))).one()
    assert tuple(texts) == (fold("連絡：ｶﾀｶﾅです"),) * 2


async def test_a_number_without_hyphens_finds_the_notice_that_spells_it_with_them(
        ctx: AppContext) -> None:
    suzuki = (await _principals(ctx))[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    at = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    missed = MissedCall(Caller(normalise("0312345678"), "株式会社山田"), "user", "鈴木",
                        "2201", "no_answer", 1, at, at)
    body = missed.body("81")
    assert "03-1234-5678" in body  # the card spells it grouped
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        notice, _ = await post_notice(
            ctx, uow, channel_id=channel, kind=MessageKind.MISSED_CALL, body=body,
            card=missed.card("81", FollowUp()),
            now=at, caller_number="+81312345678", target_key=None, actor_user_id=None)
    memo = await send(ctx, "０３－１２３４－５６７８へ折り返し", "memo")
    for word in ("0312345678", "03-1234-5678", "０３１２３４５６７８", "03ー1234ー5678",
                 "1234-5678", "12345678", "345"):
        assert {notice.id, memo} <= await staff_search(ctx, word), word
        assert {notice.id, memo} <= await auditor_search(ctx, word), word
    assert await staff_search(ctx, "0312345679") == set()


async def test_an_edit_and_a_purge_keep_the_folded_index_right(ctx: AppContext) -> None:
    three_years_ago = ManualClock()
    three_years_ago.advance(-3 * 365 * 86400)
    async with open_context(ctx.settings, clock=three_years_ago) as old:
        suzuki = (await _principals(old))[SUZUKI]
        edited = await send(old, "ｶﾀｶﾅ", "edited")
        await edit_message(old, actor=suzuki, message_id=edited, body="ＡＢＣ窓口")
    # The person finds the current text only; the auditor every revision.
    assert edited not in await staff_search(ctx, "かたかな")
    assert edited in await staff_search(ctx, "abc")
    assert edited in await auditor_search(ctx, "カタカナ")
    assert edited in await auditor_search(ctx, "かな", "ab")
    await assert_index_holds_exactly_the_rows(ctx)
    # Retention purges the text and every revision: nothing is found any more.
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    await retention_actions.set_policy(ctx, channel_id=channel, keep_years=1, by="test")
    assert (await retention_actions.run_retention(ctx, by="test")).purged_messages >= 1
    for word in ("かたかな", "ｶﾅ", "abc", "ＡＢ", "窓口"):
        assert edited not in await staff_search(ctx, word)
        assert edited not in await auditor_search(ctx, word)
    await assert_index_holds_exactly_the_rows(ctx)


# --- the upgrade folds what earlier releases stored ------------------------------------------

async def test_0021_folds_and_indexes_the_rows_already_written(database_url: str) -> None:
    in_own_thread(lambda: upgrade(database_url, "0020"))
    at = datetime(2026, 4, 1, tzinfo=UTC)
    db = Database(database_url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(insert(User), [
                {"id": 1, "staff_number": "1", "name": "職員", "kana": "", "role": "staff",
                 "is_active": True, "created_at": at, "updated_at": at}])
            await conn.execute(insert(Channel), [
                {"id": 1, "kind": "group", "name": "係", "last_seq": 3, "last_version": 3,
                 "created_at": at}])
            await conn.execute(insert(Membership), [
                {"channel_id": 1, "user_id": 1, "source": "group", "joined_at": at,
                 "last_read_seq": 0}])
            # Raw SQL, as the release before 0021 wrote them (no search_text column).
            for i, body in ((1, "ｶﾀｶﾅの案内"), (2, "ＡＢＣ会議"), (3, "電話03-1234-5678")):
                await conn.execute(text(
                    "INSERT INTO messages (id, channel_id, seq, version, sender_id, kind, "
                    "body, revision, created_at) VALUES (:i, 1, :i, :i, 1, 'text', :b, "
                    ":r, :at)"), {"i": i, "b": body, "r": 2 if i == 1 else 1, "at": at})
            for message_id, revision, body in ((1, 1, "ﾃｽﾄ"), (1, 2, "ｶﾀｶﾅの案内"),
                                               (2, 1, "ＡＢＣ会議"), (3, 1, "電話03-1234-5678")):
                await conn.execute(text(
                    "INSERT INTO message_revisions (message_id, revision, action, body, "
                    "actor_id, created_at) VALUES (:m, :r, 'create', :b, 1, :at)"),
                    {"m": message_id, "r": revision, "b": body, "at": at})
    finally:
        await db.dispose()
    in_own_thread(lambda: upgrade(database_url))
    db = Database(database_url)
    try:
        async def found(word: str) -> list[int]:
            async with unit_of_work(db, TxMode.READ) as uow:
                return [m.id for m, _ in await uow.messages.search_visible(1, word, limit=9)]

        async with unit_of_work(db, TxMode.READ) as uow:
            folded = dict((await uow.session.execute(
                select(Message.id, Message.search_text))).all())
            assert folded == {1: "かたかなの案内", 2: "abc会議", 3: "電話0312345678"}
            assert set((await uow.session.scalars(
                select(MessageRevision.search_text))).all()) == {
                "てすと", "かたかなの案内", "abc会議", "電話0312345678"}

            expected = {"カタカナ": [1], "かな": [1], "ｶ": [1], "abc": [2], "ＡＢ": [2],
                        "0312345678": [3], "てすと": [], "03-1234": [3]}
            assert {word: await found(word) for word in expected} == expected
        # On SQLite the rows written raw are noted (alembic 0009) and were found by
        # the scan of the notes; indexed now, through the index.
        async with unit_of_work(db, TxMode.BULK_WRITE) as uow:
            await uow.messages.index_backlog(100)
        async with unit_of_work(db, TxMode.READ) as uow:
            assert {word: await found(word) for word in expected} == expected
            records, _ = await uow.records.page(RecordQuery(words=("テスト",)),
                                                before_id=None, limit=9)
            assert [r.id for r in records] == [1]  # a superseded revision, folded too
        if db.dialect == "sqlite":
            async with db.engine.begin() as conn:
                for table in ("messages_grams", "message_revisions_grams", "messages_fts"):
                    await conn.execute(text(
                        f"INSERT INTO {table}({table}) VALUES ('integrity-check')"))
    finally:
        await db.dispose()
    in_own_thread(lambda: command.downgrade(alembic_config(database_url), "0020"))
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            # Back to the unfolded text, indexed as spelled; the columns are gone.
            columns = await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns("messages")})
            assert "search_text" not in columns
            if db.dialect == "sqlite":
                for word, ids in (("ｶﾀｶﾅ", [1]), ("カタカナ", [])):
                    assert (await conn.scalars(text(
                        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q"),
                        {"q": f'"{word}"'})).all() == ids
            else:
                indexes = set((await conn.scalars(text(
                    "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'ix_message%'"
                ))).all())
                assert {"ix_messages_body_trgm", "ix_messages_body_grams"} <= indexes
    finally:
        await db.dispose()


# --- PostgreSQL: the person's search reads a bounded number of messages ----------------------

def _rows_read(plan: dict[str, Any]) -> int:
    """Rows a plan read from ``messages`` (returned by its scans, or removed by their
    filters or rechecks), over every loop."""
    node = plan
    read = 0
    if node.get("Relation Name") == "messages":
        loops = int(node.get("Actual Loops", 1))
        read += loops * (int(node.get("Actual Rows", 0))
                         + int(node.get("Rows Removed by Filter", 0))
                         + int(node.get("Rows Removed by Index Recheck", 0)))
    return read + sum(_rows_read(child) for child in node.get("Plans", []))


@pytest.mark.parametrize("word", ["台風接近", "台風", "台"])
async def test_a_rare_word_reads_the_newest_window_and_its_matches_only(
        ctx: AppContext, word: str) -> None:
    """With sorting made to look dear (``enable_sort = off``, as statistics that price a
    newest-first walk cheap once did for 台風接近), the old single query walked the
    messages by id and read all 20,000 to find 5; the bounded search reads the newest
    window, then the index's matches."""
    await _fill_with_a_rare_word(ctx)
    with captured_statements(ctx) as statements:
        assert len(await staff_search(ctx, word)) == 5
    read = await _messages_read_with_sorting_dear(ctx, statements)
    assert read <= NEWEST_WINDOW + 500, read


@pytest.mark.parametrize("word", ["台風接近", "台風"])
async def test_the_auditor_search_reads_the_newest_window_and_its_matches_only(
        ctx: AppContext, word: str) -> None:
    """The auditor's page, bounded the same way: it read all 20,000 messages newest first
    before (through its current-text window), now the newest window and then the
    indexes' matches; the count reads through the indexes only."""
    await _fill_with_a_rare_word(ctx)
    with captured_statements(ctx) as statements:
        assert len(await auditor_search(ctx, word)) == 5
    read = await _messages_read_with_sorting_dear(ctx, statements)
    assert read <= NEWEST_WINDOW + 500, read
    # Page by page, across the window's edge: exactly a scan's matches, newest first.
    newest = await send(ctx, f"{word}の備え", "after-the-fill")
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        scanned = list((await uow.session.scalars(
            select(Message.id).where(Message.body.contains(word))
            .order_by(Message.id.desc()))).all())
        paged: list[int] = []
        before: int | None = None
        while True:
            records, more = await uow.records.page(RecordQuery(words=(word,)),
                                                   before_id=before, limit=2)
            paged += [r.id for r in records]
            if not more:
                break
            before = records[-1].id
    assert paged == scanned and paged[0] == newest and len(paged) == 6


async def _fill_with_a_rare_word(ctx: AppContext) -> None:
    if ctx.db.dialect != "postgresql":
        pytest.skip("about PostgreSQL's plans")
    suzuki = (await _principals(ctx))[SUZUKI]
    channel = (await channels_of(ctx, suzuki.user_id))["department"]
    await fill_channel(ctx, suzuki, channel, 20_000, {"台風接近": 5})


async def _messages_read_with_sorting_dear(ctx: AppContext,
                                           statements: list[tuple[str, Any]]) -> int:
    """The rows of ``messages`` the captured searches' statements read, each run again
    under ``EXPLAIN ANALYZE`` with ``enable_sort = off`` and the settings the search
    made (its ``set_config`` calls) replayed in order."""
    searches = [(s, p) for s, p in statements if "FROM messages" in s and "LIMIT" in s]
    assert searches
    read = 0
    async with ctx.db.engine.connect() as conn:
        await conn.exec_driver_sql("SET plan_cache_mode = force_custom_plan")
        await conn.exec_driver_sql("SET enable_sort = off")
        for statement, parameters in statements:
            if (statement, parameters) not in searches:
                if "set_config(" in statement:
                    await conn.exec_driver_sql(statement, parameters)  # as the search ran
                continue
            explained = await conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters)
            plan = explained.scalar_one()
            plan = json.loads(plan) if isinstance(plan, str) else plan
            read += _rows_read(plan[0]["Plan"])
        await conn.rollback()
    return read
