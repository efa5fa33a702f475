"""Reading the org chart for the console: the department tree, staff lists, a person's
channels. Names and places only, never message content."""

from __future__ import annotations

from dataclasses import dataclass

from chat.context import AppContext
from chat.domain.orgchart import (
    lineage,
)
from chat.errors import NotFound
from chat.store.models import Channel, Department, User
from chat.store.uow import TxMode, unit_of_work

# --- reading the org chart (lists for the console; no message content) --------------------

@dataclass(frozen=True)
class DepartmentView:
    id: int
    code: str
    name: str
    kana: str
    level: str
    parent_code: str | None
    depth: int
    members: int


async def department_tree(ctx: AppContext) -> list[DepartmentView]:
    """Every department, parents before children (depth first, in sort order), with
    how many active people sit in it."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        departments = list(await uow.departments.all())
        counts: dict[int | None, int] = {}
        for user in await uow.users.all():
            if user.is_active:
                counts[user.department_id] = counts.get(user.department_id, 0) + 1
    by_id = {d.id: d for d in departments}
    children: dict[int | None, list[Department]] = {}
    for dept in departments:
        children.setdefault(dept.parent_id if dept.parent_id in by_id else None,
                            []).append(dept)
    ordered: list[DepartmentView] = []

    def walk(parent: int | None, depth: int) -> None:
        for dept in children.get(parent, []):
            parent_dept = by_id.get(dept.parent_id) if dept.parent_id else None
            ordered.append(DepartmentView(
                id=dept.id, code=dept.code, name=dept.name, kana=dept.kana, level=dept.level,
                parent_code=parent_dept.code if parent_dept else None, depth=depth,
                members=counts.get(dept.id, 0)))
            walk(dept.id, depth + 1)

    walk(None, 0)
    return ordered


@dataclass(frozen=True)
class StaffFilter:
    department_code: str | None = None
    role: str | None = None
    active: bool | None = None
    query: str = ""


async def list_staff(ctx: AppContext, filters: StaffFilter, *, limit: int = 500
                     ) -> list[tuple[User, Department | None]]:
    """Staff matching every given filter, by staff number; a department includes the
    departments below it."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        department_ids: set[int] | None = None
        if filters.department_code:
            dept = await uow.departments.by_code(filters.department_code)
            if dept is None:
                raise NotFound(f"department {filters.department_code} does not exist")
            parents = {d.id: d.parent_id for d in await uow.departments.all()}
            department_ids = {d for d in parents if dept.id in lineage(d, parents)}
        return list(await uow.users.listing(
            department_ids=department_ids, role=filters.role, active=filters.active,
            query=filters.query.strip(), limit=limit))


async def staff_channels(ctx: AppContext, user_id: int) -> list[tuple[Channel, str]]:
    """The channels a person is a member of, with why (``department``, ``all_staff``,
    ``manual``): names only, never messages."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        memberships = await uow.channels.memberships_of(user_id)
        result = []
        for membership in memberships:
            channel = await uow.channels.get(membership.channel_id)
            if channel is not None:
                result.append((channel, membership.source))
    return sorted(result, key=lambda pair: (pair[0].kind, pair[0].name))
