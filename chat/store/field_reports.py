"""Field reports (被害報告): the HQ board's rows, their photos, and status changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Attachment, FieldReport, FieldReportPhoto, Message

#: The HQ board shows at most this many reports per page (newest first).
BOARD_PAGE = 500


class FieldReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, report: FieldReport, photo_ids: Sequence[int]) -> None:
        self.session.add(report)
        self.session.add_all(FieldReportPhoto(attachment_id=attachment_id,
                                              message_id=report.message_id, ordinal=n)
                             for n, attachment_id in enumerate(photo_ids))

    async def get(self, message_id: int, *, for_update: bool = False) -> FieldReport | None:
        stmt = select(FieldReport).where(FieldReport.message_id == message_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def board(self, disaster_id: int, *, category: str | None = None,
                    severity: int | None = None, status: str | None = None,
                    before: int | None = None, limit: int = BOARD_PAGE
                    ) -> Sequence[tuple[FieldReport, Message]]:
        """The disaster's reports whose messages still have content, newest first,
        filtered; ``before`` (a message id, exclusive) pages back."""
        stmt = (select(FieldReport, Message)
                .join(Message, Message.id == FieldReport.message_id)
                .where(FieldReport.disaster_id == disaster_id,
                       Message.deleted_at.is_(None), Message.purged_at.is_(None)))
        if category is not None:
            stmt = stmt.where(FieldReport.category == category)
        if severity is not None:
            stmt = stmt.where(FieldReport.severity == severity)
        if status is not None:
            stmt = stmt.where(FieldReport.status == status)
        if before is not None:
            stmt = stmt.where(FieldReport.message_id < before)
        rows = await self.session.execute(
            stmt.order_by(FieldReport.message_id.desc()).limit(limit))
        return [(report, message) for report, message in rows.all()]

    async def of_messages(self, message_ids: Sequence[int]) -> Sequence[FieldReport]:
        if not message_ids:
            return []
        return (await self.session.scalars(select(FieldReport).where(
            FieldReport.message_id.in_(sorted(set(message_ids)))))).all()

    async def set_status(self, message_id: int, status: str, *, by: int,
                         at: datetime) -> bool:
        """Change the status unless it already is ``status``; False when unchanged."""
        result = await self.session.execute(
            update(FieldReport)
            .where(FieldReport.message_id == message_id, FieldReport.status != status)
            .values(status=status, status_changed_by=by, status_changed_at=at))
        return bool(getattr(result, "rowcount", 0))

    async def photo(self, attachment_id: int) -> tuple[Attachment, Message] | None:
        """A report's photo with the report's message, or None for any other upload."""
        row = (await self.session.execute(
            select(Attachment, Message)
            .join(FieldReportPhoto, FieldReportPhoto.attachment_id == Attachment.id)
            .join(Message, Message.id == FieldReportPhoto.message_id)
            .where(Attachment.id == attachment_id))).first()
        return (row[0], row[1]) if row is not None else None
