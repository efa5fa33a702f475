"""Auditor queries: messages with every revision, by sender, channel, time and words.

Unlike the staff search (``MessageRepository.search_visible``) this looks at every
revision, so text later edited away or deleted is found, and returns purged messages
as metadata. Results come back as :class:`chat.domain.records.MessageRecord`, detached
from the session.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, exists, func, not_, or_, select, text, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import CompoundSelect

from chat.domain.records import MessageRecord, Person, RevisionRecord
from chat.domain.search_fold import search_fold
from chat.store.models import Channel, Message, MessageRevision, User
from chat.store.search import (
    NEWEST_WINDOW,
    folded_text,
    like_pattern,
    postgres_text_conditions,
    prefer_custom_plans,
    sqlite_revision_message_ids,
    through_indexes_only,
)

Sender = aliased(User, name="sender")
Actor = aliased(User, name="actor")
Stmt = TypeVar("Stmt", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class RecordQuery:
    """What to match; every given field must match. ``start`` is inclusive and ``end``
    exclusive on ``messages.created_at``; each of ``words`` must be a substring of some
    revision's text (compared folded: chat/domain/search_fold.py); ``up_to_message_id`` bounds an
    export to the messages that existed when it started."""

    sender_id: int | None = None
    channel_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    words: tuple[str, ...] = ()
    up_to_message_id: int | None = None


class RecordRepository:
    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect

    def _where(self, stmt: Stmt, query: RecordQuery) -> Stmt:
        if query.sender_id is not None:
            stmt = stmt.where(Message.sender_id == query.sender_id)
        if query.channel_id is not None:
            stmt = stmt.where(Message.channel_id == query.channel_id)
        if query.start is not None:
            stmt = stmt.where(Message.created_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Message.created_at < query.end)
        if query.up_to_message_id is not None:
            stmt = stmt.where(Message.id <= query.up_to_message_id)
        if query.words and self.dialect == "sqlite":
            # Narrow with the grams, whatever the length (chat/store/search.py): the
            # revisions whose text is no longer current and the current texts (alembic
            # 0008), listed by message id; confirm with ILIKE on the revisions' folded
            # texts. On PostgreSQL the words are asked apart (:meth:`_matching_ids`).
            for word in _folded(query.words):
                stmt = stmt.where(
                    Message.id.in_(sqlite_revision_message_ids(word)),
                    exists().where(
                        MessageRevision.message_id == Message.id,
                        folded_text(MessageRevision).ilike(like_pattern(word),
                                                           escape="\\")))
        return stmt

    async def page(self, query: RecordQuery, *, before_id: int | None, limit: int
                   ) -> tuple[list[MessageRecord], bool]:
        """At most ``limit`` matching messages with ``id < before_id`` (exclusive; None =
        from the newest), newest first, and whether more exist beyond this page. The
        caller resumes with ``before_id`` = the last record's id."""
        await self._plan_for(query)
        stmt = self._base(query)
        if before_id is not None:
            stmt = stmt.where(Message.id < before_id)
        if self._words_apart(query):
            stmt = stmt.where(Message.id.in_(await self._newest_matching_ids(
                query, before_id=before_id, limit=limit + 1)))
        rows = (await self.session.execute(
            stmt.order_by(Message.id.desc()).limit(limit + 1))).all()
        more = len(rows) > limit
        return await self._records(rows[:limit]), more

    async def get(self, message_id: int) -> MessageRecord | None:
        rows = (await self.session.execute(
            self._base(RecordQuery()).where(Message.id == message_id))).all()
        records = await self._records(rows)
        return records[0] if records else None

    async def count(self, query: RecordQuery) -> int:
        await self._plan_for(query)
        stmt = self._where(select(func.count()).select_from(Message), query)
        if not self._words_apart(query):
            return int(await self.session.scalar(stmt) or 0)
        # Those whose current text holds the words, and the others found through a
        # superseded text: two counts, each planned for itself. Through the indexes
        # only: the planner prices ILIKE as cheap and would confirm it on every message
        # to count a common word, where the trigram or grams index leaves a fraction to
        # confirm (a word in a fifth of 100,000 messages: 47–51 ms against 168–196 ms).
        in_current, in_superseded = postgres_text_conditions(
            Message.id, folded_text(Message), _folded(query.words))
        stmt = select(stmt.where(in_current).scalar_subquery()
                      + stmt.where(in_superseded, not_(in_current)).scalar_subquery())
        before = await self.session.scalar(text(
            "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)"))
        count = int(await self.session.scalar(stmt) or 0)
        await self.session.execute(text("SELECT set_config('enable_seqscan', :was, true)"),
                                   {"was": before})
        return count

    async def last_message_id(self) -> int:
        return int(await self.session.scalar(select(func.max(Message.id))) or 0)

    async def stream(self, query: RecordQuery, *, batch: int = 500
                     ) -> AsyncIterator[list[MessageRecord]]:
        """Every matching message by ascending id, a page of ``batch`` at a time (keyset
        pagination); the session forgets each page before the next is read, so memory
        stays bounded however many messages match. Each page is consistent with the
        transaction's view (one snapshot on SQLite; per statement on PostgreSQL)."""
        await self._plan_for(query)
        after: int | None = None
        while True:
            stmt = self._base(query)
            if after is not None:
                stmt = stmt.where(Message.id > after)
            if self._words_apart(query):
                stmt = stmt.where(Message.id.in_(self._matching_ids(
                    query, after_id=after, limit=batch, ascending=True)))
            rows = (await self.session.execute(stmt.order_by(Message.id).limit(batch))).all()
            if not rows:
                return
            records = await self._records(rows)
            self.session.expunge_all()
            yield records
            if len(rows) < batch:
                return
            after = records[-1].id

    def _words_apart(self, query: RecordQuery) -> bool:
        return bool(query.words) and self.dialect != "sqlite"

    async def _newest_matching_ids(self, query: RecordQuery, *, before_id: int | None,
                                   limit: int) -> list[int]:
        """PostgreSQL: the ids of the newest ``limit`` matching messages below
        ``before_id``, in two statements whose every plan is bounded, as the staff
        search's (``MessageRepository._search_postgres``): the :data:`NEWEST_WINDOW` ids
        below it confirmed by the pattern alone (nothing indexable in the text: at most
        the window is read), then, if those are too few, older ones through the texts'
        indexes, ordered by ``id + 0`` with sequential scans off, so no plan walks every
        message newest first looking for a rare word. The caller orders and cuts."""
        ceiling = before_id if before_id is not None else int(
            await self.session.scalar(select(func.max(Message.id))) or 0) + 1
        floor = ceiling - NEWEST_WINDOW
        words = _folded(query.words)
        unindexed = folded_text(Message) + ""
        _, in_superseded = postgres_text_conditions(Message.id, folded_text(Message), words)
        newest = (self._where(select(Message.id), query)
                  .where(Message.id < ceiling, Message.id >= floor,
                         or_(and_(*(unindexed.ilike(like_pattern(word), escape="\\")
                                    for word in words)), in_superseded))
                  .order_by(Message.id.desc()).limit(limit))
        found = list((await self.session.scalars(newest)).all())
        if len(found) >= limit or floor <= 1:
            return found
        older = self._matching_ids(query, before_id=floor, limit=limit - len(found),
                                   ascending=False, order_key=Message.id + 0)
        async with through_indexes_only(self.session):
            found += (await self.session.scalars(older)).all()
        return found

    def _matching_ids(self, query: RecordQuery, *, before_id: int | None = None,
                      after_id: int | None = None, limit: int, ascending: bool,
                      order_key: Any = Message.id) -> CompoundSelect[Any]:
        """PostgreSQL: the ids of the first ``limit`` matching messages in the keyset
        window, in order, as the union of two windows each planned for itself
        (:func:`chat.store.search.postgres_text_conditions`): the messages whose
        current text holds the words, and those found through a superseded text. The
        caller takes the first ``limit`` of the union in the same order. ``order_key``
        ``Message.id + 0`` keeps the planner from walking the primary key in order."""
        order = order_key.asc() if ascending else order_key.desc()
        windows = []
        for condition in postgres_text_conditions(Message.id, folded_text(Message),
                                                  _folded(query.words)):
            window = self._where(select(Message.id), query).where(condition)
            if before_id is not None:
                window = window.where(Message.id < before_id)
            if after_id is not None:
                window = window.where(Message.id > after_id)
            windows.append(window.order_by(order).limit(limit))
        return union_all(*windows)

    async def _plan_for(self, query: RecordQuery) -> None:
        if query.words and self.dialect == "postgresql":
            await prefer_custom_plans(self.session)

    def _base(self, query: RecordQuery) -> Select[Message, Channel, User]:
        stmt = (select(Message, Channel, Sender)
                .join(Channel, Channel.id == Message.channel_id)
                .outerjoin(Sender, Sender.id == Message.sender_id))
        return self._where(stmt, query)

    async def _records(self, rows: Sequence[Any]) -> list[MessageRecord]:
        ids = [row[0].id for row in rows]
        revisions: dict[int, list[RevisionRecord]] = {i: [] for i in ids}
        if ids:
            revision_rows = (await self.session.execute(
                select(MessageRevision, Actor)
                .outerjoin(Actor, Actor.id == MessageRevision.actor_id)
                .where(MessageRevision.message_id.in_(ids))
                .order_by(MessageRevision.message_id, MessageRevision.revision))).all()
            for revision, actor in revision_rows:
                revisions[revision.message_id].append(RevisionRecord(
                    revision=revision.revision, action=revision.action, body=revision.body,
                    at=revision.created_at, actor=_person(actor)))
        return [MessageRecord(
            id=message.id, channel_id=channel.id, channel_name=channel.name,
            channel_kind=channel.kind, seq=message.seq, sender=_person(sender),
            created_at=message.created_at, edited_at=message.edited_at,
            deleted_at=message.deleted_at, purged_at=message.purged_at,
            revisions=tuple(revisions[message.id]))
            for message, channel, sender in rows]


def _folded(words: Sequence[str]) -> tuple[str, ...]:
    """The words as the search compares them (chat/domain/search_fold.py)."""
    return tuple(search_fold(word) for word in words)


def _person(user: User | None) -> Person | None:
    if user is None:
        return None
    return Person(id=user.id, staff_number=user.staff_number, name=user.name)
