"""Queries on the org chart."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Department


class DepartmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def all(self) -> Sequence[Department]:
        rows = await self.session.scalars(
            select(Department).order_by(Department.sort_order, Department.id)
        )
        return rows.all()

    async def get(self, department_id: int) -> Department | None:
        return await self.session.get(Department, department_id)

    async def by_code(self, code: str) -> Department | None:
        return await self.session.scalar(select(Department).where(Department.code == code))

    def add(self, department: Department) -> None:
        self.session.add(department)
