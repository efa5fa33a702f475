"""The audit log: append (chained at commit) and read; never update or delete."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.domain.auditchain import GENESIS_HASH, EntryContent, entry_hash
from chat.store.models import AuditCheckpoint, AuditEvent, AuditHead
from chat.store.scan import scan
from chat.store.sqlite_inline import InlineStatement, execute_each, rows_of

HEAD_ID = 1
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditHead.__table__)

_EVENT_COLUMNS = tuple(c.name for c in _EVENTS.columns if c.name != "id")
# Every write transaction that audits runs these: built once, so SQLAlchemy finds them
# in its statement cache without rebuilding them (a third of a statement's CPU), and on
# SQLite's inline connection they run straight on sqlite3.
_LOCK_HEAD = InlineStatement(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
                             .with_for_update())
_MOVE_HEAD = InlineStatement(update(_HEAD).where(_HEAD.c.id == HEAD_ID)
                             .values(seq=bindparam("new_seq"), hash=bindparam("new_hash")))
_NEW_HEAD = insert(_HEAD)
# On PostgreSQL, one statement over column arrays (chat/store/pg_arrays.py).
_INSERT_EVENTS = InlineStatement.insert(_EVENTS, _EVENT_COLUMNS)
# PostgreSQL: the entries and the head's move in one statement, which also takes the
# head's lock: the head moves only from the (seq, hash) the entries were chained to
# (waiting for a concurrent writer, then reading its head), and the entries are written
# only if it moved. Their parameters: the entries' column arrays, then $n+1…$n+4.
_ARRAYS = _INSERT_EVENTS.arrays
assert _ARRAYS is not None
_n = len(_EVENT_COLUMNS)
_CHAIN_FROM = (
    f"WITH moved AS (UPDATE audit_head SET seq = ${_n + 3}, hash = ${_n + 4} "
    f"WHERE id = {HEAD_ID} AND seq = ${_n + 1} AND hash = ${_n + 2} RETURNING id) "
    f"{_ARRAYS.insert_into} SELECT * FROM {_ARRAYS.unnest} "
    f"WHERE EXISTS (SELECT FROM moved) RETURNING seq")
# The head as this process last moved it, per database (keyed by its connection pool):
# a guess :meth:`AuditRepository.seal` chains to without reading the head, which the
# statement above checks (another node or the CLI may have moved it since).
_LAST_HEADS: weakref.WeakKeyDictionary[Any, tuple[int, str]] = weakref.WeakKeyDictionary()


def content_of(event: AuditEvent) -> EntryContent:
    return EntryContent(
        seq=event.seq, occurred_at=event.occurred_at, action=event.action,
        outcome=event.outcome, actor_user_id=event.actor_user_id,
        subject_user_id=event.subject_user_id, device_id=event.device_id,
        session_id=event.session_id, remote_addr=event.remote_addr, detail=event.detail)


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._pending: list[EntryContent] = []

    def append(self, entry: EntryContent) -> None:
        """Queue an entry (its ``seq`` is ignored); :meth:`seal` chains the
        transaction's entries just before commit, so the head row is locked only
        briefly."""
        self._pending.append(entry)

    async def seal(self) -> None:
        """Give the queued entries the next seqs and hashes under the locked head row
        (PostgreSQL: row-locked by the statement that moves it; SQLite writers are
        serialised already), so concurrent writers on every node extend one chain.

        On PostgreSQL the entries are first chained to the head this process last
        moved, written and the head moved in one statement that checks it still is the
        head (one round trip, where locking, reading, inserting and moving took three);
        if another writer moved it, the head is locked and read, and the entries chained
        again."""
        if not self._pending:
            return
        bind = self.session.bind
        if bind is not None and bind.dialect.name == "postgresql":
            await self._seal_on_postgresql(bind.sync_engine.pool)
        else:
            head = await self._locked_head()
            rows, moved_to = self._chained(head)
            # One multi-row INSERT (a batch of sends seals hundreds of entries) of plain
            # rows: no ORM object per entry, nothing reads them back in this transaction.
            await execute_each(self.session, _INSERT_EVENTS, rows)
            await execute_each(self.session, _MOVE_HEAD,
                               [{"new_seq": moved_to[0], "new_hash": moved_to[1]}])
        self._pending.clear()
        # An AuditHead loaded earlier in this transaction is stale now.
        head_object = self.session.identity_map.get(
            self.session.identity_key(AuditHead, HEAD_ID))
        if head_object is not None:
            self.session.expire(head_object)

    async def _seal_on_postgresql(self, pool: Any) -> None:
        guess = _LAST_HEADS.get(pool)
        if guess is not None:
            rows, moved_to = self._chained(guess)
            if await self._chain_from(guess, moved_to, rows):
                _LAST_HEADS[pool] = moved_to
                return
        head = await self._locked_head()
        rows, moved_to = self._chained(head)
        if not await self._chain_from(head, moved_to, rows):
            raise RuntimeError("the audit head moved while locked")
        _LAST_HEADS[pool] = moved_to

    async def _chain_from(self, head: tuple[int, str], moved_to: tuple[int, str],
                          rows: list[dict[str, Any]]) -> bool:
        """Write ``rows`` and move the head from ``head`` to ``moved_to``, if ``head``
        is the head (one statement); whether it was."""
        assert _ARRAYS is not None
        written = await _ARRAYS.fetch(self.session, _CHAIN_FROM, rows, *head, *moved_to)
        return bool(written)

    async def _locked_head(self) -> tuple[int, str]:
        """The head's (seq, hash), its row locked (created at genesis if missing)."""
        head = next(iter(await rows_of(self.session, _LOCK_HEAD, {})), None)
        if head is None:
            await self.session.execute(_NEW_HEAD, {"id": HEAD_ID, "seq": 0,
                                                   "hash": GENESIS_HASH})
            return 0, GENESIS_HASH
        return int(head[0]), str(head[1])

    def _chained(self, head: tuple[int, str]
                 ) -> tuple[list[dict[str, Any]], tuple[int, str]]:
        """The pending entries as rows chained after ``head``, and the head after them."""
        seq, last_hash = head
        rows = []
        for pending in self._pending:
            seq += 1
            entry = replace(pending, seq=seq)
            digest = entry_hash(last_hash, entry)
            rows.append({**vars(entry), "prev_hash": last_hash, "hash": digest})
            last_hash = digest
        return rows, (seq, last_hash)

    async def lock_head(self) -> None:
        """Take the head row's lock now rather than at commit. A purge batch does this
        before it reads the legal holds, so a hold placed concurrently is either seen by
        the batch or committed after it (placing a hold appends, and waits for the lock)."""
        await self.session.execute(
            select(AuditHead.id).where(AuditHead.id == HEAD_ID).with_for_update())

    async def head(self) -> AuditHead | None:
        return await self.session.get(AuditHead, HEAD_ID)

    async def count(self) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(AuditEvent)) or 0)

    def in_order(self) -> AsyncIterator[AuditEvent]:
        """Every entry by seq, in bounded memory (a large log)."""
        return scan(self.session, AuditEvent, AuditEvent.seq)

    async def recent(self, *, action_prefix: str | None = None,
                     limit: int = 100) -> Sequence[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
        if action_prefix:
            stmt = stmt.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
        return (await self.session.scalars(stmt)).all()

    # -- checkpoints ---------------------------------------------------------------------

    def add_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        self.session.add(checkpoint)

    async def checkpoints(self) -> Sequence[AuditCheckpoint]:
        return (await self.session.scalars(
            select(AuditCheckpoint).order_by(AuditCheckpoint.seq))).all()

    async def last_checkpoint(self) -> AuditCheckpoint | None:
        return await self.session.scalar(
            select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1))

    # -- what the chain vouches for ------------------------------------------------------

    async def entries_between(self, action: str, windows: Sequence[tuple[datetime, datetime]]
                              ) -> Sequence[tuple[datetime, str]]:
        """(time, detail) of the ``action`` entries sealed within any of ``windows``
        (the retention purge looks up when messages were really created; the time is
        indexed, the detail is JSON the caller reads)."""
        if not windows:
            return []
        rows = await self.session.execute(
            select(AuditEvent.occurred_at, AuditEvent.detail)
            .where(AuditEvent.action == action,
                   or_(*(AuditEvent.occurred_at.between(lo, hi) for lo, hi in windows))))
        return [(row[0], row[1]) for row in rows]

# -- transparency: the entries that read a person's messages (chat.actions.access_log) ----

# How many candidate entries one look at a person's access record reads, newest first.
ACCESS_SCAN_LIMIT = 5000
_IN_CHUNK = 500


async def access_entries(audit: AuditRepository, *, user_id: int, actions: Sequence[str],
                         limit: int = ACCESS_SCAN_LIMIT) -> Sequence[AuditEvent]:
    """Successful ``actions`` entries, newest first, that may have read ``user_id``'s
    messages: those naming them in ``sender_channels`` (a ``"<id>:`` string; a prefilter,
    the caller confirms on the parsed detail), and those without ``sender_channels``
    (``messages.read``, and entries written before it was recorded), which the caller
    resolves through their message ids (:func:`sent_by`). Auditors' reads are few, so
    this reads at most ``limit`` entries rather than keeping an index of its own."""
    from sqlalchemy import not_, or_  # local: the rest of this module does not need them

    stmt = (select(AuditEvent)
            .where(AuditEvent.action.in_(list(actions)), AuditEvent.outcome == "ok",
                   or_(AuditEvent.detail.contains(f'"{user_id}:', autoescape=True),
                       not_(AuditEvent.detail.contains('"sender_channels"'))))
            .order_by(AuditEvent.seq.desc()).limit(limit))
    return (await audit.session.scalars(stmt)).all()


async def sent_by(audit: AuditRepository, *, user_id: int, message_ids: Sequence[int]
                  ) -> dict[int, tuple[int, datetime]]:
    """Of ``message_ids``, those ``user_id`` sent: id → (channel id, created at)."""
    from chat.store.models import Message

    found: dict[int, tuple[int, datetime]] = {}
    ids = sorted(set(message_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await audit.session.execute(
            select(Message.id, Message.channel_id, Message.created_at)
            .where(Message.id.in_(ids[start:start + _IN_CHUNK]),
                   Message.sender_id == user_id))
        for message_id, channel_id, created_at in rows:
            found[int(message_id)] = (int(channel_id), created_at)
    return found


# -- reading the log: the console's 監査ログ page, `tsunagu audit log` (chat.actions.audit_log)

async def log_page(audit: AuditRepository, *, action: str | None = None,
                   action_prefix: bool = False, actor_user_id: int | None = None,
                   subject_user_id: int | None = None, start: datetime | None = None,
                   end: datetime | None = None, outcome: str | None = None,
                   before_id: int | None = None, limit: int = 50) -> Sequence[AuditEvent]:
    """Entries matching every given filter, newest first by id: ids below ``before_id``
    (exclusive; None: from the newest), ``occurred_at`` in [``start``, ``end``), at most
    ``limit``. Ask for one more than a page to learn whether another follows. The action,
    actor, subject and time columns are indexed; the id is the primary key."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action is not None:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True)
                          if action_prefix else AuditEvent.action == action)
    if actor_user_id is not None:
        stmt = stmt.where(AuditEvent.actor_user_id == actor_user_id)
    if subject_user_id is not None:
        stmt = stmt.where(AuditEvent.subject_user_id == subject_user_id)
    if start is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= start)
    if end is not None:
        stmt = stmt.where(AuditEvent.occurred_at < end)
    if outcome is not None:
        stmt = stmt.where(AuditEvent.outcome == outcome)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return (await audit.session.scalars(stmt)).all()
