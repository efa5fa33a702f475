"""Unit of work: one transaction, its repositories, and hooks that run only after commit.

Repositories never commit. Fanout is registered with :meth:`UnitOfWork.on_commit`, so a
rolled-back write leaves no trace on any client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import Enum
from functools import cached_property

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.attachments import AttachmentRepository
from chat.store.audit import AuditRepository
from chat.store.broadcasts import BroadcastRepository
from chat.store.channels import ChannelRepository
from chat.store.db import Database
from chat.store.departments import DepartmentRepository
from chat.store.devices import DeviceRepository
from chat.store.disasters import DisasterRepository
from chat.store.exports import ExportRepository
from chat.store.field_reports import FieldReportRepository
from chat.store.messages import MessageRepository
from chat.store.notices import NoticeRepository
from chat.store.pbx import PbxRepository
from chat.store.push import PushRepository
from chat.store.reactions import ReactionRepository
from chat.store.records import RecordRepository
from chat.store.retention import RetentionRepository
from chat.store.rollcalls import RollCallRepository
from chat.store.sends import SendBatchRepository
from chat.store.sessions import SessionRepository
from chat.store.system_settings import SystemSettingsRepository
from chat.store.users import UserRepository

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    """One transaction's session and its repositories, each made on first use: a
    transaction uses two or three of the twenty, and a node opens one per send batch
    (building them all was ~8 % of a short transaction's CPU)."""

    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
        self._after_commit: list[AfterCommit] = []

    @cached_property
    def departments(self) -> DepartmentRepository:
        return DepartmentRepository(self.session)

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.session)

    @cached_property
    def channels(self) -> ChannelRepository:
        return ChannelRepository(self.session)

    @cached_property
    def messages(self) -> MessageRepository:
        return MessageRepository(self.session, self.dialect)

    @cached_property
    def send_batches(self) -> SendBatchRepository:
        return SendBatchRepository(self.session, self.dialect)

    @cached_property
    def sessions(self) -> SessionRepository:
        return SessionRepository(self.session)

    @cached_property
    def devices(self) -> DeviceRepository:
        return DeviceRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.session)

    @cached_property
    def system_settings(self) -> SystemSettingsRepository:
        return SystemSettingsRepository(self.session)

    @cached_property
    def pbx(self) -> PbxRepository:
        return PbxRepository(self.session)

    @cached_property
    def notices(self) -> NoticeRepository:
        return NoticeRepository(self.session)

    @cached_property
    def retention(self) -> RetentionRepository:
        return RetentionRepository(self.session)

    @cached_property
    def records(self) -> RecordRepository:
        return RecordRepository(self.session, self.dialect)

    @cached_property
    def exports(self) -> ExportRepository:
        return ExportRepository(self.session)

    @cached_property
    def attachments(self) -> AttachmentRepository:
        return AttachmentRepository(self.session)

    @cached_property
    def reactions(self) -> ReactionRepository:
        return ReactionRepository(self.session, self.dialect)

    @cached_property
    def push(self) -> PushRepository:
        return PushRepository(self.session)

    @cached_property
    def disasters(self) -> DisasterRepository:
        return DisasterRepository(self.session)

    @cached_property
    def broadcasts(self) -> BroadcastRepository:
        return BroadcastRepository(self.session)

    @cached_property
    def field_reports(self) -> FieldReportRepository:
        return FieldReportRepository(self.session)

    @cached_property
    def rollcalls(self) -> RollCallRepository:
        return RollCallRepository(self.session)

    def on_commit(self, hook: AfterCommit) -> None:
        """Run ``hook`` once the transaction has committed; dropped on rollback."""
        self._after_commit.append(hook)

    async def flush(self) -> None:
        await self.session.flush()


class TxMode(Enum):
    """How a unit of work uses the database: the valid mixes of write, bulk, snapshot
    and short, named, so an invalid one (a short write, a bulk snapshot) cannot be asked.
    """

    #: A read that may scan (search, history, listings): on SQLite on aiosqlite's threads.
    READ = "read"
    #: A few indexed look-ups (the session check of every request and connect, a
    #: connect's snapshot): on SQLite on the event loop's thread
    #: (:meth:`chat.store.db.Database.session`). Never for a read that may scan.
    SHORT_READ = "short_read"
    #: A long read that must be consistent while others write (``audit verify``,
    #: exports): every statement sees the database as of the first. PostgreSQL needs
    #: REPEATABLE READ for that; a SQLite read transaction in WAL mode is one already.
    SNAPSHOT_READ = "snapshot_read"
    #: A short write, committed on exit.
    WRITE = "write"
    #: A long write (hundreds of rows: a purge batch, an import) that on SQLite runs on
    #: a database thread rather than the event loop's, so it never holds up the others.
    BULK_WRITE = "bulk_write"

    @property
    def writes(self) -> bool:
        return self in (TxMode.WRITE, TxMode.BULK_WRITE)


@asynccontextmanager
async def unit_of_work(db: Database, mode: TxMode) -> AsyncIterator[UnitOfWork]:
    """Open a transaction in ``mode``. Commits on normal exit (writes only), rolls back
    on error.

    After-commit hooks run in registration order; one failing hook is logged and does not
    stop the others (the write is already durable; clients resync from the database).
    """
    if mode is TxMode.WRITE and db.inline_writes:
        # SQLite file: the transaction runs straight on the held inline connection.
        async with db.write_turn(write=True), db.inline_write() as session:
            uow = UnitOfWork(session, db.dialect)
            yield uow
            if "audit" in uow.__dict__:
                await uow.audit.seal()
        await _after_commit(uow)
        return
    write = mode.writes
    session = db.session(write=write, bulk=mode is TxMode.BULK_WRITE,
                         short=mode is TxMode.SHORT_READ)
    try:
        uow = UnitOfWork(session, db.dialect)
        async with db.write_turn(write=write), session.begin():
            if mode is TxMode.SNAPSHOT_READ and db.dialect == "postgresql":
                await session.execute(
                    text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            if mode in (TxMode.SNAPSHOT_READ, TxMode.BULK_WRITE):
                # Long work has its own statement and lock timeouts (chat.store.db).
                for statement in db.long_work_statements:
                    await session.execute(text(statement))
            yield uow
            # Last, so the audit head is locked only for the end of the transaction.
            if "audit" in uow.__dict__:     # made: something may have been audited
                await uow.audit.seal()
        await _after_commit(uow)
    finally:
        await db.close(session)


async def _after_commit(uow: UnitOfWork) -> None:
    for hook in uow._after_commit:
        try:
            await hook()
        except Exception:
            log.exception("after-commit hook failed")
