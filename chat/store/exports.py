"""Export jobs: an auditor's export, its progress and, when done, its manifest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import ExportJob


class ExportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, job: ExportJob) -> None:
        self.session.add(job)

    async def get(self, job_id: int, *, for_update: bool = False) -> ExportJob | None:
        """A job; with ``for_update``, locked (its runner finishing and a sweep failing
        it must not both win)."""
        stmt = select(ExportJob).where(ExportJob.id == job_id)
        return await self.session.scalar(stmt.with_for_update() if for_update else stmt)

    async def recent(self, *, limit: int) -> list[ExportJob]:
        """The newest export jobs, newest first."""
        return list((await self.session.scalars(
            select(ExportJob).order_by(ExportJob.id.desc()).limit(limit))).all())

    async def set_progress(self, job_id: int, *, done: int, total: int) -> None:
        """Record how far a running export got (one small UPDATE per page)."""
        await self.session.execute(
            update(ExportJob).where(ExportJob.id == job_id, ExportJob.state == "running")
            .values(done=done, total=total))

    async def mark_alive(self, job_id: int, at: datetime) -> None:
        """Say a running job's runner is still at it."""
        await self.session.execute(
            update(ExportJob).where(ExportJob.id == job_id, ExportJob.state == "running")
            .values(alive_at=at))

    async def silent_since(self, before: datetime) -> list[ExportJob]:
        """Running jobs whose runner has not said it was alive since ``before``."""
        return list((await self.session.scalars(
            select(ExportJob).where(ExportJob.state == "running",
                                    (ExportJob.alive_at < before)
                                    | ExportJob.alive_at.is_(None))
            .order_by(ExportJob.id))).all())

    async def states(self, job_ids: list[int]) -> dict[int, str]:
        """job id → state, for those that exist."""
        if not job_ids:
            return {}
        rows = await self.session.execute(
            select(ExportJob.id, ExportJob.state).where(ExportJob.id.in_(job_ids)))
        return {int(job_id): str(state) for job_id, state in rows.all()}
