"""Export jobs: an auditor's export, its progress and, when done, its manifest."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import ExportJob


class ExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, job: ExportJob) -> None:
        self.session.add(job)

    async def get(self, job_id: int) -> ExportJob | None:
        return await self.session.scalar(select(ExportJob).where(ExportJob.id == job_id))

    async def recent(self, *, limit: int) -> list[ExportJob]:
        """The newest export jobs, newest first."""
        return list((await self.session.scalars(
            select(ExportJob).order_by(ExportJob.id.desc()).limit(limit))).all())

    async def set_progress(self, job_id: int, *, done: int, total: int) -> None:
        """Record how far a running export got (one small UPDATE per page)."""
        await self.session.execute(
            update(ExportJob).where(ExportJob.id == job_id, ExportJob.state == "running")
            .values(done=done, total=total))
