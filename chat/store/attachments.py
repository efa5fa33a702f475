"""Photo attachments: their rows, and their bytes read one column at a time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Attachment, FieldReportPhoto


class AttachmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, attachment: Attachment) -> None:
        self.session.add(attachment)

    async def get(self, attachment_id: int, *, for_update: bool = False
                  ) -> Attachment | None:
        stmt = select(Attachment).where(Attachment.id == attachment_id)
        if for_update:
            # Two sends racing with one upload: the second waits, then sees it taken.
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def of_messages(self, message_ids: Sequence[int]) -> dict[int, Attachment]:
        """message id → its photo (metadata only; the bytes stay deferred)."""
        if not message_ids:
            return {}
        rows = await self.session.scalars(
            select(Attachment).where(Attachment.message_id.in_(sorted(set(message_ids)))))
        return {a.message_id: a for a in rows.all() if a.message_id is not None}

    async def content(self, attachment_id: int, *, thumb: bool) -> bytes | None:
        column = Attachment.thumb if thumb else Attachment.data
        value = await self.session.scalar(select(column).where(Attachment.id == attachment_id))
        return bytes(value) if value is not None else None

    async def delete_of_messages(self, message_ids: Sequence[int]) -> int:
        """Remove the photos of these messages (rows and bytes), a field report's
        included; returns how many."""
        if not message_ids:
            return 0
        # A field report's photos are linked by field_report_photos, not message_id.
        report_photos = select(FieldReportPhoto.attachment_id).where(
            FieldReportPhoto.message_id.in_(message_ids))
        result = await self.session.execute(
            delete(Attachment).where(or_(Attachment.message_id.in_(message_ids),
                                         Attachment.id.in_(report_photos))))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def count_unsent(self, uploaded_before: datetime) -> tuple[int, int]:
        """Uploads never sent and older than ``uploaded_before``: how many, and bytes."""
        row = (await self.session.execute(
            select(func.count(), func.coalesce(func.sum(Attachment.size), 0))
            .where(*_unsent(uploaded_before)))).one()
        return int(row[0]), int(row[1])

    async def unsent_ids(self, uploaded_before: datetime, *, after_id: int,
                         limit: int) -> list[int]:
        """Up to ``limit`` uploads never sent and older than ``uploaded_before``, by id
        after ``after_id``."""
        return list((await self.session.scalars(
            select(Attachment.id)
            .where(*_unsent(uploaded_before), Attachment.id > after_id)
            .order_by(Attachment.id).limit(limit))).all())

    async def delete_unsent(self, attachment_ids: Sequence[int]
                            ) -> list[tuple[int, int, int, int]]:
        """Remove these uploads unless sent meanwhile (the delete re-checks
        ``message_id`` on the row a concurrent send, which locks it, leaves behind);
        ``(id, uploader, channel, bytes)`` of each removed, by id."""
        if not attachment_ids:
            return []
        removed = await self.session.execute(
            delete(Attachment)
            .where(Attachment.id.in_(attachment_ids), Attachment.message_id.is_(None),
                   ~select(FieldReportPhoto.attachment_id).where(
                       FieldReportPhoto.attachment_id == Attachment.id).exists())
            .returning(Attachment.id, Attachment.uploader_id, Attachment.channel_id,
                       Attachment.size))
        return sorted((int(a), int(b), int(c), int(d)) for a, b, c, d in removed.all())


def _unsent(uploaded_before: datetime) -> tuple[Any, ...]:
    """Uploads never sent, made before then."""
    # A field report's photos keep message_id NULL; their link keeps them.
    linked = select(FieldReportPhoto.attachment_id).where(
        FieldReportPhoto.attachment_id == Attachment.id)
    return (Attachment.message_id.is_(None), Attachment.created_at < uploaded_before,
            ~linked.exists())
