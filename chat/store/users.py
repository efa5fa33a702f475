"""Queries on staff."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Department, User
from chat.store.search import like_pattern


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def by_staff_number(self, staff_number: str) -> User | None:
        return await self.session.scalar(select(User).where(User.staff_number == staff_number))

    async def many(self, user_ids: Sequence[int]) -> Sequence[User]:
        if not user_ids:
            return []
        return (await self.session.scalars(select(User).where(User.id.in_(user_ids)))).all()

    async def all(self) -> Sequence[User]:
        return (await self.session.scalars(select(User).order_by(User.id))).all()

    async def active_with_roles(self, roles: Sequence[str]) -> Sequence[User]:
        """Active people holding any of ``roles``."""
        return (await self.session.scalars(select(User).where(
            User.is_active, User.role.in_(roles)).order_by(User.id))).all()

    async def active_by_staff_numbers(self, staff_numbers: Sequence[str]) -> Sequence[User]:
        if not staff_numbers:
            return []
        return (await self.session.scalars(select(User).where(
            User.is_active, User.staff_number.in_(staff_numbers)).order_by(User.id))).all()

    async def active_ids(self) -> Sequence[int]:
        return (await self.session.scalars(select(User.id).where(User.is_active))).all()

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(User)) or 0)

    async def search_directory(
        self, query: str, *, limit: int
    ) -> Sequence[tuple[User, Department | None]]:
        """Active staff whose name, kana, extension, staff number or department name
        contains ``query`` (substring, case-insensitive for Latin letters)."""
        stmt = (
            select(User, Department)
            .outerjoin(Department, User.department_id == Department.id)
            .where(User.is_active)
            .order_by(User.kana, User.id)
            .limit(limit)
        )
        if query:
            pattern = like_pattern(query)
            stmt = stmt.where(
                or_(
                    User.name.ilike(pattern, escape="\\"),
                    User.kana.ilike(pattern, escape="\\"),
                    User.extension.ilike(pattern, escape="\\"),
                    User.staff_number.ilike(pattern, escape="\\"),
                    Department.name.ilike(pattern, escape="\\"),
                )
            )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def listing(self, *, department_ids: set[int] | None, role: str | None,
                      active: bool | None, query: str, limit: int
                      ) -> Sequence[tuple[User, Department | None]]:
        """Staff matching every given filter (None: any), by staff number; ``query`` is a
        substring of the name, kana, staff number or extension."""
        stmt = (select(User, Department)
                .outerjoin(Department, User.department_id == Department.id)
                .order_by(User.staff_number).limit(limit))
        if department_ids is not None:
            stmt = stmt.where(User.department_id.in_(department_ids))
        if role is not None:
            stmt = stmt.where(User.role == role)
        if active is not None:
            stmt = stmt.where(User.is_active == active)
        if query:
            pattern = like_pattern(query)
            stmt = stmt.where(or_(User.name.ilike(pattern, escape="\\"),
                                  User.kana.ilike(pattern, escape="\\"),
                                  User.staff_number.ilike(pattern, escape="\\"),
                                  User.extension.ilike(pattern, escape="\\")))
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    def add(self, user: User) -> None:
        self.session.add(user)
