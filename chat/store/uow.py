"""Unit of work: one transaction, its repositories, and hooks that run only after commit.

Repositories never commit. Fanout is registered with :meth:`UnitOfWork.on_commit`, so a
rolled-back write leaves no trace on any client.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import Enum

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
    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
        self.departments = DepartmentRepository(session)
        self.users = UserRepository(session)
        self.channels = ChannelRepository(session)
        self.messages = MessageRepository(session, dialect)
        self.send_batches = SendBatchRepository(session, dialect)
        self.sessions = SessionRepository(session)
        self.devices = DeviceRepository(session)
        self.audit = AuditRepository(session)
        self.system_settings = SystemSettingsRepository(session)
        self.pbx = PbxRepository(session)
        self.notices = NoticeRepository(session)
        self.retention = RetentionRepository(session)
        self.records = RecordRepository(session, dialect)
        self.exports = ExportRepository(session)
        self.attachments = AttachmentRepository(session)
        self.reactions = ReactionRepository(session, dialect)
        self.push = PushRepository(session)
        self.disasters = DisasterRepository(session)
        self.broadcasts = BroadcastRepository(session)
        self.field_reports = FieldReportRepository(session)
        self.rollcalls = RollCallRepository(session)
        self._after_commit: list[AfterCommit] = []

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
            await uow.audit.seal()
        for hook in uow._after_commit:
            try:
                await hook()
            except Exception:
                log.exception("after-commit hook failed")
    finally:
        await db.close(session)
