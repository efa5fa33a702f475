"""Queries on messages, their revisions, and message search."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Integer, Table, column, exists, func, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.domain.search_fold import search_fold
from chat.store.channels import ChannelRepository
from chat.store.models import Channel, Membership, Message, MessageRevision
from chat.store.pg_arrays import ArrayInsert
from chat.store.scan import scan
from chat.store.search import (
    NEWEST_WINDOW,
    TRIGRAM_MIN_CHARS,
    UNINDEXED,
    folded_text,
    fts_match,
    has_backlog,
    index_backlog,
    index_noted_messages,
    like_pattern,
    postgres_grams_contain,
    prefer_custom_plans,
    sqlite_gram_match,
    sqlite_trigram_match,
    through_indexes_only,
)
from chat.store.sqlite_inline import (
    InlineStatement,
    execute_each,
    insert_rows,
    rows_of,
)

# The tables themselves, for multi-row INSERTs that skip the ORM's per-object work.
_MESSAGES = cast(Table, Message.__table__)
_REVISIONS = cast(Table, MessageRevision.__table__)

# The columns a send inserts: every column a message row needs but its id.
INSERTED_COLUMNS = ("channel_id", "seq", "version", "sender_id", "client_id", "kind", "body",
                    "revision", "created_at", "reply_to_id", "mentions")
_REVISION_COLUMNS = ("message_id", "revision", "action", "body", "actor_id", "created_at",
                     "search_text")
# The statements every send runs, built once: SQLAlchemy then finds them in its
# statement cache without rebuilding them, and on SQLite's inline connection they run
# straight on sqlite3 (docs/performance.md, scenario a).
# The resend look-up joins the batch's (sender, client id) pairs to the unique index:
# one probe a pair. (Two INs, one of senders and one of client ids, made SQLite and
# PostgreSQL probe every combination: 65,536 for a batch of 256, 21 ms.) On PostgreSQL
# each pair is a LATERAL probe of at most one row: a plain join is prepared once per
# connection, and a plan made while ``messages`` was small (a hash join over a scan of
# the table) was kept as it grew: 12 → 63 µs a message within one 20 s run of (d).
_STORED_KEYS = {
    "sqlite": InlineStatement(text(
        "SELECT m.id, m.sender_id, m.client_id FROM json_each(:keys) AS k "
        "JOIN messages AS m ON m.sender_id = json_extract(k.value, '$[0]') "
        "AND m.client_id = json_extract(k.value, '$[1]')")),
    "postgresql": InlineStatement(text(
        "SELECT m.id, m.sender_id, m.client_id FROM unnest("
        "CAST(:senders AS INTEGER[]), CAST(:client_ids AS VARCHAR[])) AS k(sender_id, client_id) "
        "CROSS JOIN LATERAL (SELECT s.id, s.sender_id, s.client_id FROM messages AS s "
        "WHERE s.sender_id = k.sender_id AND s.client_id = k.client_id LIMIT 1) AS m")),
}
# On PostgreSQL each insert is one statement over column arrays (chat/store/pg_arrays.py).
# The repository adds each text's fold for search (chat/domain/search_fold.py).
_INSERT_MESSAGES = InlineStatement.insert(_MESSAGES, (*INSERTED_COLUMNS, "search_text"),
                                          returning=("id", "channel_id", "seq"))
_INSERT_REVISIONS = InlineStatement.insert(_REVISIONS, _REVISION_COLUMNS)
# What a send gives :meth:`MessageRepository.insert_sent`: the rest (seq, version) is
# the channel's to allocate.
SENT_COLUMNS = tuple(c for c in INSERTED_COLUMNS if c not in ("seq", "version"))
# With each text's fold for search, which the repository adds (chat/domain/search_fold.py).
_SENT_WITH_FOLD = (*SENT_COLUMNS, "search_text")
_MESSAGE_COLUMNS_WITH_FOLD = (*INSERTED_COLUMNS, "search_text")
# PostgreSQL: a batch of sends' seqs, messages, first revisions and senders' read
# positions in one statement (data-modifying CTEs; one round trip where four were, each
# a wait for a core the database server shares). The channels are locked in id order
# first (``locked``: two nodes' batches never deadlock) and keep their lock to commit,
# so seq order is commit order; each channel's messages take its next seqs and versions
# in the batch's order. A revision is its message's text as created by the sender; a
# read position moves forward only. The statement-level triggers on message_revisions
# (alembic 0011, 0012) run after the statement, and see its messages.
_SENT = ArrayInsert(_MESSAGES, _SENT_WITH_FOLD)
_INSERT_SENT = (
    f"WITH batch AS (SELECT * FROM {_SENT.unnest} WITH ORDINALITY AS b("
    f"{', '.join(_SENT_WITH_FOLD)}, nth)), "
    "counts AS (SELECT channel_id, count(*) AS n FROM batch GROUP BY channel_id), "
    "locked AS (SELECT id FROM channels WHERE id IN (SELECT channel_id FROM counts) "
    "ORDER BY id FOR UPDATE), "
    "taken AS (UPDATE channels AS c SET last_seq = c.last_seq + k.n, "
    "last_version = c.last_version + k.n FROM counts AS k, locked AS l "
    "WHERE c.id = k.channel_id AND l.id = k.channel_id "
    "RETURNING c.id, c.last_seq - k.n AS seq0, c.last_version - k.n AS version0), "
    "numbered AS (SELECT b.*, t.seq0 + row_number() OVER w AS seq, "
    "t.version0 + row_number() OVER w AS version FROM batch AS b "
    "JOIN taken AS t ON t.id = b.channel_id "
    "WINDOW w AS (PARTITION BY b.channel_id ORDER BY b.nth)), "
    f"sent AS (INSERT INTO messages ({', '.join(_MESSAGE_COLUMNS_WITH_FOLD)}) SELECT "
    f"{', '.join(_MESSAGE_COLUMNS_WITH_FOLD)} FROM numbered "
    "RETURNING id, channel_id, seq, sender_id, body, created_at, search_text), "
    "revisions AS (INSERT INTO message_revisions "
    f"({', '.join(_REVISION_COLUMNS)}) "
    "SELECT id, 1, 'create', body, sender_id, created_at, search_text FROM sent), "
    "reads AS (UPDATE memberships AS m SET last_read_seq = r.seq FROM ("
    "SELECT channel_id, sender_id, max(seq) AS seq FROM sent GROUP BY channel_id, sender_id"
    ") AS r WHERE m.channel_id = r.channel_id AND m.user_id = r.sender_id "
    "AND m.last_read_seq < r.seq) "
    "SELECT s.id, n.seq, n.version FROM sent AS s JOIN numbered AS n "
    "ON n.channel_id = s.channel_id AND n.seq = s.seq ORDER BY n.nth")


class MessageRepository:
    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect

    async def get(self, message_id: int, *, for_update: bool = False) -> Message | None:
        stmt = select(Message).where(Message.id == message_id)
        if for_update:
            # Edits of one message must not interleave: the second waits for the first.
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def by_client_id(self, sender_id: int, client_id: str) -> Message | None:
        return await self.session.scalar(
            select(Message).where(Message.sender_id == sender_id,
                                  Message.client_id == client_id))

    async def by_client_ids(self, keys: Iterable[tuple[int, str]]
                            ) -> dict[tuple[int, str], Message]:
        """The messages already stored for ``(sender_id, client_id)`` keys, in one query
        (a batch of sends finds its resends): the keys joined to the unique index, as a
        JSON array on SQLite (a row-value IN is answered with a scan there), as arrays
        on PostgreSQL."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        lookup = ({"keys": json.dumps(wanted)} if self.dialect == "sqlite" else
                  {"senders": [s for s, _ in wanted], "client_ids": [c for _, c in wanted]})
        rows = await rows_of(self.session, _STORED_KEYS[self.dialect], lookup)
        ids = {(int(sender_id), str(client_id)): int(message_id)
               for message_id, sender_id, client_id in rows}
        if not ids:                      # the usual case: no resends
            return {}
        return await self.by_ids(ids)

    async def by_ids(self, ids: dict[tuple[int, str], int]
                     ) -> dict[tuple[int, str], Message]:
        """The messages of ``ids`` (key -> message id), by the same keys."""
        loaded = (await self.session.scalars(
            select(Message).where(Message.id.in_(ids.values())))).all()
        by_id = {m.id: m for m in loaded}
        return {key: by_id[message_id] for key, message_id in ids.items()}

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> dict[tuple[int, int], int]:
        """Insert message rows (column -> value); returns each new id by ``(channel_id,
        seq)``. Rows are not loaded into the session: a batch of sends builds its frames
        from what it inserted. SQLite then indexes them for search in the same
        transaction, off the event loop (chat/store/search.py). Each row gets its
        ``search_text`` here (the caller's dicts are completed in place)."""
        for row in rows:
            row["search_text"] = search_fold(row["body"])
        returned = await insert_rows(self.session, _INSERT_MESSAGES, rows)
        if self.dialect == "sqlite" and returned:
            await index_noted_messages(self.session, len(returned))
        return {(int(channel_id), int(seq)): int(message_id)
                for message_id, channel_id, seq in returned}

    async def insert_sent(self, rows: Sequence[dict[str, Any]]
                          ) -> list[tuple[int, int, int]]:
        """A batch of sends (``SENT_COLUMNS`` each, in the batch's order): each
        channel's next seqs and versions (:meth:`ChannelRepository.allocate_seqs`, the
        channels row-locked to commit), the messages (:meth:`insert_many`), each one's
        first revision (its text, created by its sender at its time), and each sender's
        read position moved up to their last message of the channel (writing means
        having read). Each message and revision gets its text's fold for search.
        Returns each message's ``(id, seq, version)``, in the rows' order. One
        statement on PostgreSQL."""
        if not rows:
            return []
        if self.dialect == "postgresql":
            returned = await _SENT.fetch(self.session, _INSERT_SENT, [
                {**row, "search_text": search_fold(row["body"])} for row in rows])
            if len(returned) != len(rows):
                raise RuntimeError("a channel of the batch is gone")
            return [(int(i), int(seq), int(version)) for i, seq, version in returned]
        channels = ChannelRepository(self.session)
        next_of = await channels.allocate_seqs(Counter(row["channel_id"] for row in rows))
        numbered = []
        for row in rows:
            seq, version = next_of[row["channel_id"]]
            next_of[row["channel_id"]] = seq + 1, version + 1
            numbered.append({**row, "seq": seq, "version": version})
        id_of = await self.insert_many(numbered)
        await self.insert_revisions([
            {"message_id": id_of[row["channel_id"], row["seq"]], "revision": 1,
             "action": "create", "body": row["body"], "actor_id": row["sender_id"],
             "created_at": row["created_at"],
             "search_text": row["search_text"]}      # the message's: folded once
            for row in numbered])
        read_up_to = {(row["channel_id"], row["sender_id"]): row["seq"] for row in numbered}
        await channels.advance_reads((c, u, seq) for (c, u), seq in read_up_to.items())
        return [(id_of[row["channel_id"], row["seq"]], row["seq"], row["version"])
                for row in numbered]

    async def insert_revisions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert revision rows (column -> value); each without a ``search_text`` gets
        its text's fold (in place). A first revision is given its message's: folding
        is most of a short text's Python work on the way in."""
        for row in rows:
            if "search_text" not in row:
                row["search_text"] = search_fold(row["body"])
        await execute_each(self.session, _INSERT_REVISIONS, rows)

    async def insert(self, message: Message) -> None:
        """Insert one message through the ORM (its id is set on return); SQLite indexes
        it for search as :meth:`insert_many` does."""
        self.session.add(message)
        await self.session.flush()
        if self.dialect == "sqlite":
            await index_noted_messages(self.session, 1)

    async def has_search_backlog(self) -> bool:
        """Whether other writers left messages noted (SQLite, alembic 0009)."""
        return self.dialect == "sqlite" and await has_backlog(self.session)

    async def index_backlog(self, limit: int) -> int:
        """Index up to ``limit`` messages other writers left noted (SQLite, alembic
        0009); how many. Elsewhere there is never any."""
        if self.dialect != "sqlite":
            return 0
        return await index_backlog(self.session, limit)

    def add_revision(self, revision: MessageRevision) -> None:
        self.session.add(revision)

    async def revisions(self, message_id: int) -> Sequence[MessageRevision]:
        return (await self.session.scalars(
            select(MessageRevision).where(MessageRevision.message_id == message_id)
            .order_by(MessageRevision.revision))).all()

    async def after_seq(
        self, channel_id: int, after_seq: int, *, limit: int
    ) -> tuple[Sequence[Message], int, bool]:
        """Messages with ``seq > after_seq`` (exclusive), ascending, at most ``limit``.

        Returns ``(rows, next_seq, limited)``: ``next_seq`` is the seq of the last row
        (or ``after_seq`` when there are none) and is what the caller resumes from;
        ``limited`` is True when more rows exist beyond this page.
        """
        rows = (await self.session.scalars(
            select(Message).where(Message.channel_id == channel_id, Message.seq > after_seq)
            .order_by(Message.seq).limit(limit + 1))).all()
        limited = len(rows) > limit
        rows = rows[:limit]
        next_seq = rows[-1].seq if rows else after_seq
        return rows, next_seq, limited

    async def before_seq(
        self, channel_id: int, before_seq: int | None, *, limit: int
    ) -> tuple[Sequence[Message], bool]:
        """The ``limit`` messages just below ``before_seq`` (exclusive; None = newest),
        returned ascending, and whether older ones exist."""
        stmt = select(Message).where(Message.channel_id == channel_id)
        if before_seq is not None:
            stmt = stmt.where(Message.seq < before_seq)
        rows = (await self.session.scalars(
            stmt.order_by(Message.seq.desc()).limit(limit + 1))).all()
        limited = len(rows) > limit
        return list(reversed(rows[:limit])), limited

    async def changed_since(
        self, channel_id: int, after_version: int, *, up_to_seq: int, limit: int
    ) -> tuple[Sequence[Message], bool]:
        """Messages at or below ``up_to_seq`` changed (edited or deleted) at a version
        above ``after_version`` (exclusive), ascending by version."""
        rows = (await self.session.scalars(
            select(Message).where(Message.channel_id == channel_id,
                                  Message.version > after_version,
                                  Message.seq <= up_to_seq)
            .order_by(Message.version).limit(limit + 1))).all()
        return rows[:limit], len(rows) > limit

    async def search_visible(
        self, user_id: int, query: str, *, limit: int, channel_id: int | None = None
    ) -> Sequence[tuple[Message, Channel]]:
        """Live (not deleted) messages whose folded text contains the folded ``query``
        (chat/domain/search_fold.py), in channels ``user_id`` belongs to (only
        ``channel_id`` when given), newest first.

        Every length uses an index (chat/store/search.py): three or more characters the
        trigram index, fewer the grams index, confirmed with LIKE / ILIKE. The person's
        channels are read first and named in the query, so on SQLite the grams index
        walks only their channels' matches, newest first. On SQLite the messages not
        indexed yet (noted, alembic 0009), if any, are read besides, with a scan of the
        notes. On PostgreSQL the newest :data:`NEWEST_WINDOW` messages are read first,
        then the index for older ones (:meth:`_search_postgres`).
        """
        word = search_fold(query)
        columns: list[Any] = [Membership.channel_id]
        if self.dialect == "sqlite":
            # Whether any message awaits indexing (alembic 0009; usually none), read
            # with the channels rather than by a statement of its own.
            columns.append(exists(select(UNINDEXED.c.id)))
        else:
            # Where the newest window starts, read once for both of its statements.
            columns.append(select(func.max(Message.id)).scalar_subquery())
        memberships = select(*columns).where(Membership.user_id == user_id)
        if channel_id is not None:
            memberships = memberships.where(Membership.channel_id == channel_id)
        rows = (await self.session.execute(memberships)).all()
        if not rows or not word:
            return []
        channel_ids = sorted(row[0] for row in rows)
        if self.dialect != "sqlite":
            return await self._search_postgres(word, channel_ids, int(rows[0][1] or 0),
                                               limit=limit)
        noted_exist = bool(rows[0][1])
        short = len(word) < TRIGRAM_MIN_CHARS
        pattern = folded_text(Message).ilike(like_pattern(word), escape="\\")

        def visible(stmt: Any, channel: Any = Message.channel_id) -> Any:
            return (stmt.join(Channel, Channel.id == Message.channel_id)
                    .where(channel.in_(channel_ids), Message.deleted_at.is_(None))
                    .limit(limit))

        # Messages not indexed yet (alembic 0009) first: one that is indexed between
        # the two queries is then found twice, never missed; one noted after the
        # first statement is newer than the search. The notes drive the query:
        # "+ 0" keeps SQLite from walking the person's channels through the channel
        # index instead.
        noted = [] if not noted_exist else (await self.session.execute(visible(
            select(Message, Channel).select_from(UNINDEXED)
            .join(Message, Message.id == UNINDEXED.c.id)
            .where(pattern).order_by(UNINDEXED.c.id.desc()),
            Message.channel_id + 0))).all()
        fts, match = (("messages_grams", sqlite_gram_match(word, channel_ids=channel_ids))
                      if short else ("messages_fts", sqlite_trigram_match(word)))
        hits = table(fts, column("rowid", Integer))
        stmt = (select(Message, Channel).select_from(hits)
                .join(Message, Message.id == hits.c.rowid)
                .where(fts_match(fts, match)).order_by(hits.c.rowid.desc()))
        if short:  # the trigram phrase query is exact; the grams only narrow
            stmt = stmt.where(pattern)
        found = {m.id: (m, c) for m, c in
                 [*noted, *(await self.session.execute(visible(stmt))).all()]}
        return [found[i] for i in sorted(found, reverse=True)[:limit]]

    async def _search_postgres(self, word: str, channel_ids: list[int], newest_id: int,
                               *, limit: int) -> list[tuple[Message, Channel]]:
        """PostgreSQL, in two statements whose every plan is bounded (issue 27): the
        messages above ``newest_id - NEWEST_WINDOW`` confirmed by the pattern alone
        (nothing indexable but the primary key's range: at most the window is read),
        then, if the page is not full, older ones through the text's index (ordered
        by ``id + 0``, so no index walks messages in id order, and sequential scans
        off: the index's matches are read, narrowed by the channels' index where the
        planner likes, then sorted). Together they are exactly the one query's
        results, newest first. Once a plan walked messages newest first for a rare
        word (台風接近) and read every one."""
        await prefer_custom_plans(self.session)
        floor = newest_id - NEWEST_WINDOW
        text_ = folded_text(Message)
        pattern = text_.ilike(like_pattern(word), escape="\\")
        newest = (select(Message, Channel).join(Channel, Channel.id == Message.channel_id)
                  .where(Message.id > floor, (Message.channel_id + 0).in_(channel_ids),
                         Message.deleted_at.is_(None),
                         (text_ + "").ilike(like_pattern(word), escape="\\"))
                  .order_by(Message.id.desc()).limit(limit))
        found = [(m, c) for m, c in (await self.session.execute(newest)).all()]
        if len(found) >= limit or floor <= 0:
            return found
        older = (select(Message, Channel).join(Channel, Channel.id == Message.channel_id)
                 .where(Message.id + 0 <= floor, Message.channel_id.in_(channel_ids),
                        Message.deleted_at.is_(None), pattern)
                 .order_by((Message.id + 0).desc()).limit(limit - len(found)))
        if len(word) < TRIGRAM_MIN_CHARS:
            older = older.where(postgres_grams_contain(text_, word))
        async with through_indexes_only(self.session):
            found += [(m, c) for m, c in (await self.session.execute(older)).all()]
        return found

    async def many(self, message_ids: Sequence[int]) -> dict[int, Message]:
        if not message_ids:
            return {}
        rows = await self.session.scalars(
            select(Message).where(Message.id.in_(sorted(set(message_ids)))))
        return {m.id: m for m in rows.all()}

    async def pinned(self, channel_id: int) -> Sequence[Message]:
        """The channel's pinned messages that still have content, newest pin first."""
        return (await self.session.scalars(
            select(Message).where(Message.channel_id == channel_id,
                                  Message.pinned_at.is_not(None),
                                  Message.deleted_at.is_(None), Message.purged_at.is_(None))
            .order_by(Message.pinned_at.desc(), Message.id.desc()))).all()

    async def revision_count(self) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(MessageRevision)) or 0)

    def all_revisions(self) -> AsyncIterator[MessageRevision]:
        """Every revision by id, in bounded memory (for ``audit verify``)."""
        return scan(self.session, MessageRevision, MessageRevision.id)

    def all_current(self) -> AsyncIterator[Message]:
        return scan(self.session, Message, Message.id)
