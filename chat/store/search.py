"""Substring search: the index conditions and the patterns the searches share.

Every search compares folded texts (chat/domain/search_fold.py: width, kana, case and
the hyphens of a telephone number folded), as stored beside each text (alembic 0021;
:func:`folded_text`). It narrows with an index of the folded texts and, where the index
is not exact, confirms with ``LIKE`` / ``ILIKE`` of the folded word on the folded text,
so results are always exactly what a scan of the folded texts finds (wildcards taken
literally).

- Three or more characters: the trigram indexes (SQLite FTS5 ``messages_fts``,
  PostgreSQL ``pg_trgm``), alembic 0001 and 0004.
- Fewer (窓口, 雨) — and, on SQLite, every word of the auditor search: the *grams* index
  (alembic 0007) of every character and every adjacent pair of characters of the
  lowercased text. A text that contains a word holds the word's pairs (its character,
  for a one-character word), so the index never misses a row a scan would find. On
  SQLite a revision's grams are kept only once its message holds another text (alembic
  0008): the current text is its message's.

On SQLite a new message is noted in ``messages_unindexed`` and indexed by deleting the
note (alembic 0009): the send path does that in its own transaction, a large batch on a
worker thread (:func:`index_noted_messages`), so SQLite's indexing work for a busy
node's batches stays off the event loop. A message written by anyone else (the sqlite3
shell, a restore) stays noted until a batch of sends indexes it (each indexes up to
:data:`BACKLOG_PER_BATCH` more) or a node's periodic job does
(:func:`chat.actions.message_search.index_search_backlog`), and the searches read noted
messages with a scan confirmed by ``LIKE``: a message is always indexed or noted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    column,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect

from chat.store.sqlite_inline import InlineStatement, execute_each, execute_off_loop

# SQLite's FTS5 trigram tokenizer matches nothing shorter than three characters
# (sqlite.org/fts5.html, "The Trigram Tokenizer").
TRIGRAM_MIN_CHARS = 3

# message_revisions_grams rowids are ``message_id << REVISION_BITS | revision`` (alembic
# 0007), so the index lists a message's revisions together, in message order.
REVISION_BITS = 20

# SQLite's lower() folds ASCII letters only (without ICU), as its LIKE does.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# SQLite: messages not indexed yet (alembic 0009). Deleting a row indexes its message.
UNINDEXED = table("messages_unindexed", column("id", Integer))
# How many older noted messages a batch of sends indexes besides its own: what another
# writer left is indexed in bounded steps, never all in one send.
BACKLOG_PER_BATCH = 64
_INDEX_NEWEST_NOTED = InlineStatement(
    delete(UNINDEXED).where(UNINDEXED.c.id.in_(
        select(UNINDEXED.c.id).order_by(UNINDEXED.c.id.desc())
        .limit(bindparam("count", type_=Integer)).scalar_subquery())))


# From this many new messages a batch's indexing goes to the inline connection's worker
# thread. Handing a statement over costs the loop ~130 µs of CPU and the batch ~250 µs
# of latency on the benchmark machine; indexing a message costs SQLite ~120–300 µs. So
# a lone send (the usual batch at a quiet time) is indexed at once, on the loop; a busy
# node's batches (15 sends at the city-hall peak's 10x rate) free the loop instead.
OFF_LOOP_FROM = 4


async def index_noted_messages(session: AsyncSession, count: int) -> None:
    """Index the ``count`` newest noted messages (SQLite): a batch of sends, its own
    messages being the newest, plus :data:`BACKLOG_PER_BATCH`. On the inline connection
    a batch of :data:`OFF_LOOP_FROM` or more runs on its worker thread
    (chat/store/sqlite_inline.py)."""
    values = {"count": count + BACKLOG_PER_BATCH}
    if count >= OFF_LOOP_FROM:
        await execute_off_loop(session, _INDEX_NEWEST_NOTED, values)
    else:
        await execute_each(session, _INDEX_NEWEST_NOTED, [values])


async def has_backlog(session: AsyncSession) -> bool:
    """Whether any message is noted (SQLite): a read, so a node with nothing to index
    never takes the write lock for it."""
    return await session.scalar(select(UNINDEXED.c.id).limit(1)) is not None


async def index_backlog(session: AsyncSession, limit: int) -> int:
    """Index up to ``limit`` noted messages, newest first (SQLite): what other writers
    left. For a bulk unit of work, whose statements already run off the event loop.
    Returns how many were indexed."""
    result = await session.execute(_INDEX_NEWEST_NOTED.statement, {"count": limit})
    return int(cast(CursorResult[Any], result).rowcount)


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE wildcards in ``text`` escaped by a backslash."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def sqlite_gram_match(word: str, *, channel_ids: Sequence[int] | None = None) -> str:
    """The FTS5 query over a ``*_grams`` table for rows that may contain ``word``: its
    character's token, or every distinct pair's token (an implicit AND). The tokens are
    what the triggers of alembic 0007 write: ``hex()`` of the UTF-8 of lower(text)'s
    pairs, and ``u`` + hex for a character.

    ``channel_ids``: only messages of these channels (``messages_grams`` holds each
    message's channel as the token ``ch<id>``), so a search walks the matches a person
    may see, not every match in the city hall."""
    folded = word.translate(_ASCII_LOWER)
    if len(folded) == 1:
        tokens = ["u" + folded.encode().hex().upper()]
    else:
        tokens = sorted({folded[i:i + 2].encode().hex().upper()
                         for i in range(len(folded) - 1)})
    match = " ".join(f'"{token}"' for token in tokens)
    if channel_ids is not None:
        match = f"({match}) AND ({' OR '.join(f'ch{int(c)}' for c in channel_ids)})"
    return match


def sqlite_trigram_match(word: str) -> str:
    """The FTS5 phrase query over ``messages_fts`` (three or more characters)."""
    return '"' + word.replace('"', '""') + '"'


def sqlite_revision_message_ids(word: str) -> CompoundSelect[Any]:
    """Ids of the messages with a revision whose text may contain ``word`` (SQLite).

    ``message_revisions_grams`` holds only the revisions whose text their message no
    longer holds (alembic 0008); a message's current text, which is also its latest
    revision's, is found in ``messages_grams``. Together they hold every revision."""
    match = sqlite_gram_match(word)
    superseded = (select(literal_column(f"rowid >> {REVISION_BITS}", Integer))
                  .select_from(table("message_revisions_grams"))
                  .where(fts_match("message_revisions_grams", match)))
    current = (select(literal_column("rowid", Integer))
               .select_from(table("messages_grams"))
               .where(fts_match("messages_grams", match)))
    return union_all(superseded, current, select(UNINDEXED.c.id))


# PostgreSQL: the revisions the auditor's search reads, under a name of its own so its
# subqueries never correlate with an outer query's. ``superseded`` is kept by triggers
# and is not in the ORM model (alembic 0011).
_SUPERSEDED = table("message_revisions", column("message_id", Integer), column("body"),
                    column("search_text"), column("superseded")).alias("superseded_texts")


def folded_text(row: Any) -> ColumnElement[str]:
    """What the search indexes hold of a message or revision row (alembic 0021): its
    stored fold (chat/domain/search_fold.py), or its text where a writer stored none.
    Searches compare it with the fold of the word; on PostgreSQL the expression must be
    written exactly as indexed."""
    return func.coalesce(row.search_text, row.body)


# PostgreSQL: a person's search reads the newest messages of the city (this many ids)
# first, confirmed by the pattern alone, and only then the index for older ones, so no
# plan reads every message (chat/store/messages.py, ``search_visible``).
NEWEST_WINDOW = 1_000


def postgres_text_conditions(message_id: Any, body: Any, words: Sequence[str]
                             ) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Two conditions on messages (``message_id``, current folded text ``body``, see
    :func:`folded_text`; ``words`` folded) that together
    select those one of whose texts, current or superseded, holds each of ``words``
    (PostgreSQL; confirmed by ``ILIKE``): its current text holds them all (through the
    messages' own indexes), or it has a superseded text holding one of them (through
    the revisions' partial indexes, alembic 0011: few rows, edits and deletes) and each
    word is in one of its texts.

    Asked as one condition (an OR), the planner could use neither index and would read
    every message; asked apart, each is planned for itself: a common word walks the
    messages newest first and stops at a page, a rare one reads its index's matches
    (chat/store/records.py runs them apart)."""

    def holds(texts_body: Any, word: str, *, indexed: bool) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = texts_body.ilike(like_pattern(word), escape="\\")
        if indexed and len(word) < TRIGRAM_MIN_CHARS:
            condition = and_(condition, postgres_grams_contain(texts_body, word))
        return condition

    in_current = and_(*(holds(body, word, indexed=True) for word in words))
    superseded_text = folded_text(_SUPERSEDED.c)
    with_superseded = union_all(*(
        select(_SUPERSEDED.c.message_id)
        .where(_SUPERSEDED.c.superseded, holds(superseded_text, word, indexed=True))
        for word in words))
    in_superseded = message_id.in_(with_superseded)
    if len(words) > 1:
        # Each word in the current text or in one of the message's superseded ones.
        in_superseded = and_(in_superseded, *(
            or_(holds(body, word, indexed=False),
                exists().where(_SUPERSEDED.c.message_id == message_id,
                               _SUPERSEDED.c.superseded,
                               holds(superseded_text, word, indexed=False)))
            for word in words))
    return in_current, in_superseded


def fts_match(fts_table: str, query: str) -> ColumnElement[bool]:
    """``<fts_table> MATCH :query`` (the query is bound, never spliced into the SQL)."""
    return literal_column(fts_table).op("MATCH", is_comparison=True)(query)


def postgres_grams_contain(body: Any, word: str) -> ColumnElement[bool]:
    """``body``'s grams hold ``word``'s: what the GIN expression indexes of alembic 0007
    answer (the expression must be written exactly as indexed)."""
    return func.tsunagu_search_grams(body).op("@>")(func.tsunagu_query_grams(word))


@asynccontextmanager
async def through_indexes_only(session: AsyncSession) -> AsyncIterator[None]:
    """Run the block's statements with sequential scans off, and JIT with them
    (PostgreSQL, this transaction's settings restored after): a plan that still holds
    one (a small table's) is priced beyond JIT's threshold, whose compiling costs
    ~300 ms. What the bounded searches' second statement, through the text indexes,
    runs under (``MessageRepository._search_postgres``, ``RecordRepository``)."""
    was = (await session.execute(text(
        "SELECT current_setting('enable_seqscan'), current_setting('jit'), "
        "set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"))).one()
    try:
        yield
    finally:
        await session.execute(text(
            "SELECT set_config('enable_seqscan', :seqscan, true), "
            "set_config('jit', :jit, true)"), {"seqscan": was[0], "jit": was[1]})


async def prefer_custom_plans(session: AsyncSession) -> None:
    """Plan the rest of this transaction's statements for their values (PostgreSQL).

    Whether to walk messages newest first until enough match, or to fetch the index's
    matches and sort them, depends on how frequent the word is in the person's channels.
    The planner knows that from the statistics (of the grams and trigram indexes, of
    ``messages.channel_id``), but only when it sees the values: asyncpg prepares each
    statement, and after five runs PostgreSQL may settle on a generic plan that sees
    none. Measured at a million messages: 会議 went from 25 ms to 6 s."""
    await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
