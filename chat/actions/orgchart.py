"""The org chart: importing departments and staff, and the channel memberships that
follow people when they move (the April reshuffle)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chat.actions.channels import join, leave
from chat.actions.sessions import revoke_within
from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.imports import (
    DepartmentRow,
    StaffChange,
    StaffRecord,
    StaffRow,
    infer_level,
    plan_staff_import,
)
from chat.domain.orgchart import (
    check_tree,
    department_channels_for,
    diff_memberships,
)
from chat.domain.roles import ChannelKind
from chat.store.models import Channel, Department, User
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import Progress, no_progress

ALL_STAFF_SLUG = "all-staff"
ALL_STAFF_NAME = "全庁連絡"
ORG_SOURCES = frozenset({"department", "all_staff"})




@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    moved: int = 0
    deactivated: int = 0
    unchanged: int = 0
    joined: int = 0
    left: int = 0
    channels_created: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.created} created, {self.updated} updated, {self.moved} moved, "
                f"{self.deactivated} deactivated, {self.unchanged} unchanged; "
                f"memberships: {self.joined} joined, {self.left} left; "
                f"{self.channels_created} channels created")


async def import_departments(ctx: AppContext, rows: Sequence[DepartmentRow], *,
                             progress: Progress = no_progress,
                             by: str = "import") -> ImportReport:
    """Create or update departments by code and give each its channel. Idempotent.
    Departments missing from the file are left as they are."""
    report = ImportReport()
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.BULK_WRITE) as uow:
        existing = {d.code: d for d in await uow.departments.all()}
        created: set[str] = set()
        for row in rows:
            if row.code not in existing:
                dept = Department(code=row.code, name=row.name, kana=row.kana,
                                  level=row.level or "bu", sort_order=0, created_at=now)
                uow.departments.add(dept)
                existing[row.code] = dept
                created.add(row.code)
        await uow.flush()
        parents = {d.id: d.parent_id for d in existing.values()}
        for row in rows:
            parents[existing[row.code].id] = (
                existing[row.parent_code].id if row.parent_code else None)
        check_tree(parents)
        reparented = False
        for i, row in enumerate(rows, start=1):
            dept = existing[row.code]
            after = (row.name, row.kana, i, parents[dept.id],
                     row.level or infer_level(department_depth(dept.id, parents)))
            before = (dept.name, dept.kana, dept.sort_order, dept.parent_id, dept.level)
            if before[3] != after[3] and row.code not in created:
                reparented = True
            if row.code in created:
                report.created += 1
            elif before != after:
                report.updated += 1
            else:
                report.unchanged += 1
            dept.name, dept.kana, dept.sort_order, dept.parent_id, dept.level = after
            progress(i, len(rows))
        await uow.flush()
        report.channels_created += await ensure_department_channels(uow, now)
        report.channels_created += await _ensure_all_staff_channel(uow, now)
        if reparented:
            # A department moved in the tree: its people now sit under other 課/部.
            report.joined, report.left = await sync_org_memberships(
                ctx, uow, await uow.users.all(), now=now, by=by)
        if report.created or report.updated:
            audit_within(ctx, uow, AuditAction.ORGCHART_DEPARTMENTS_IMPORTED, by=by,
                         created=report.created, updated=report.updated)
    return report


def department_depth(department_id: int, parents: dict[int, int | None]) -> int:
    depth, current = 0, parents[department_id]
    while current is not None:
        depth, current = depth + 1, parents[current]
    return depth


async def ensure_department_channels(uow: UnitOfWork, now: datetime) -> int:
    """One channel per department, named after it (renames follow)."""
    channels = await uow.channels.department_channels()
    created = 0
    for dept in await uow.departments.all():
        channel = channels.get(dept.id)
        if channel is None:
            uow.channels.add(Channel(kind=ChannelKind.DEPARTMENT, name=dept.name,
                                     department_id=dept.id, last_seq=0, last_version=0,
                                     created_at=now))
            created += 1
        elif channel.name != dept.name:
            channel.name = dept.name
    await uow.flush()
    return created


async def _ensure_all_staff_channel(uow: UnitOfWork, now: datetime) -> int:
    if await uow.channels.by_slug(ALL_STAFF_SLUG) is not None:
        return 0
    uow.channels.add(Channel(kind=ChannelKind.ANNOUNCEMENT, name=ALL_STAFF_NAME,
                             slug=ALL_STAFF_SLUG, last_seq=0, last_version=0,
                             created_at=now))
    await uow.flush()
    return 1


def _record_of(user: User) -> StaffRecord:
    return StaffRecord(name=user.name, kana=user.kana, department_id=user.department_id,
                       role=user.role, extension=user.extension, active=user.is_active)


async def _plan(uow: UnitOfWork, rows: Sequence[StaffRow]
                ) -> tuple[list[StaffChange], dict[str, User]]:
    depts = {d.code: d.id for d in await uow.departments.all()}
    users = {u.staff_number: u for u in await uow.users.all()}
    current = {number: _record_of(user) for number, user in users.items()}
    return plan_staff_import(rows, current, depts), users


async def import_staff(ctx: AppContext, rows: Sequence[StaffRow], *,
                       progress: Progress = no_progress, by: str = "import",
                       actor_user_id: int | None = None) -> ImportReport:
    """Create or update staff by staff number, then move each changed person's
    org-chart memberships. Idempotent: the same file twice changes nothing the second
    time. Staff missing from the file are left as they are (use ``active=0``).
    What each row does is decided by :func:`chat.domain.imports.plan_staff_import`, the
    rule :func:`preview_staff_import` shows before anything is written.

    Every account created, role changed, person moved, disabled or enabled is audited
    (``by`` says who ran the import), as is every membership that follows."""
    report = ImportReport()
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.BULK_WRITE) as uow:
        changes, users = await _plan(uow, rows)
        touched: list[User] = []
        created: list[User] = []
        for i, change in enumerate(changes, start=1):
            after = change.after
            user = users.get(change.staff_number)
            if change.kind == "created" or user is None:
                user = User(staff_number=change.staff_number, name=after.name,
                            kana=after.kana, department_id=after.department_id,
                            role=after.role, extension=after.extension,
                            is_active=after.active, created_at=now, updated_at=now)
                uow.users.add(user)
                report.created += 1
                touched.append(user)
                created.append(user)
            elif change.kind == "unchanged":
                report.unchanged += 1
            else:
                setattr(report, change.kind, getattr(report, change.kind) + 1)
                _audit_staff_change(ctx, uow, user, role=after.role,
                                    department_id=after.department_id, active=after.active,
                                    by=by, actor_user_id=actor_user_id)
                (user.name, user.kana, user.department_id, user.role, user.extension,
                 user.is_active) = (after.name, after.kana, after.department_id, after.role,
                                    after.extension, after.active)
                user.updated_at = now
                touched.append(user)
            progress(i, len(changes))
        await uow.flush()
        for user in created:
            audit_within(ctx, uow, AuditAction.USER_CREATED, actor_user_id=actor_user_id,
                         subject_user_id=user.id, by=by, staff_number=user.staff_number,
                         role=user.role, department_id=user.department_id,
                         active=user.is_active)
        joined, left = await sync_org_memberships(ctx, uow, touched, now=now, by=by)
        report.joined, report.left = joined, left
        for user in touched:
            if not user.is_active:
                # A person who left the city loses every session at once.
                live = await uow.sessions.live_ids_of_user(user.id, now=now)
                await revoke_within(ctx, uow, live, reason="account disabled")
    return report


@dataclass(frozen=True)
class StaffPreview:
    """One row of a staff import, before it is applied: the change, the names of the
    departments before and after, and the org-chart channels the person would join and
    leave (group and direct chats are never touched)."""

    change: StaffChange
    name: str
    department_before: str | None
    department_after: str | None
    joins: tuple[str, ...]
    leaves: tuple[str, ...]


async def preview_staff_import(ctx: AppContext, rows: Sequence[StaffRow]
                               ) -> list[StaffPreview]:
    """What :func:`import_staff` would do with ``rows``, computed by the same rule and
    written nowhere (a read-only transaction)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        changes, users = await _plan(uow, rows)
        org = await _OrgChannels.load(uow)
        names = {d.id: d.name for d in await uow.departments.all()}
        previews = []
        for change in changes:
            user = users.get(change.staff_number)
            current: set[int] = set()
            manual: set[int] = set()
            if user is not None:
                memberships = await uow.channels.memberships_of(user.id)
                current = {m.channel_id for m in memberships if m.source in ORG_SOURCES}
                manual = {m.channel_id for m in memberships if m.source not in ORG_SOURCES}
            desired = org.desired(change.after.department_id, active=change.after.active)
            diff = diff_memberships(current, desired - manual)
            before = change.before
            previews.append(StaffPreview(
                change=change, name=change.after.name,
                department_before=names.get(before.department_id)
                if before and before.department_id else None,
                department_after=names.get(change.after.department_id)
                if change.after.department_id else None,
                joins=tuple(sorted(org.name(c) for c in diff.join)),
                leaves=tuple(sorted(org.name(c) for c in diff.leave))))
    return previews


def _audit_staff_change(ctx: AppContext, uow: UnitOfWork, user: User, *, role: str,
                        department_id: int | None, active: bool, by: str,
                        actor_user_id: int | None = None) -> None:
    """Audit what an import changes about a person that matters to records and access."""
    if user.role != role:
        audit_within(ctx, uow, AuditAction.USER_ROLE_CHANGED, actor_user_id=actor_user_id,
                     subject_user_id=user.id, by=by, before=user.role, after=role)
    if user.department_id != department_id:
        audit_within(ctx, uow, AuditAction.USER_MOVED, actor_user_id=actor_user_id,
                     subject_user_id=user.id, by=by, before=user.department_id,
                     after=department_id)
    if user.is_active != active:
        audit_within(ctx, uow, AuditAction.USER_ENABLED if active else AuditAction.USER_DISABLED,
                     actor_user_id=actor_user_id, subject_user_id=user.id, by=by,
                     reason="staff import")


@dataclass(frozen=True)
class _OrgChannels:
    """The org chart's channels: one per department, and the all-staff channel."""

    parents: dict[int, int | None]
    by_department: dict[int, Channel]
    all_staff: Channel | None

    @classmethod
    async def load(cls, uow: UnitOfWork) -> _OrgChannels:
        return cls(parents={d.id: d.parent_id for d in await uow.departments.all()},
                   by_department=dict(await uow.channels.department_channels()),
                   all_staff=await uow.channels.by_slug(ALL_STAFF_SLUG))

    def desired(self, department_id: int | None, *, active: bool) -> set[int]:
        """The org-chart channels a person belongs in: their department's and every one
        above it, plus all-staff; none when inactive."""
        if not active:
            return set()
        wanted = {self.by_department[d].id
                  for d in department_channels_for(department_id, self.parents)
                  if d in self.by_department}
        if self.all_staff is not None:
            wanted.add(self.all_staff.id)
        return wanted

    def channel(self, channel_id: int) -> Channel:
        if self.all_staff is not None and self.all_staff.id == channel_id:
            return self.all_staff
        return next(c for c in self.by_department.values() if c.id == channel_id)

    def name(self, channel_id: int) -> str:
        return self.channel(channel_id).name


async def sync_org_memberships(ctx: AppContext, uow: UnitOfWork, users: Sequence[User], *,
                               now: datetime, by: str = "orgchart") -> tuple[int, int]:
    """Bring each user's org-chart memberships in line with their department: their own
    department and every one above it, plus the all-staff channel; none when inactive.
    Manual memberships (group chats, direct chats) are never touched."""
    org = await _OrgChannels.load(uow)
    joined = left = 0
    for user in users:
        desired = org.desired(user.department_id, active=user.is_active)
        memberships = await uow.channels.memberships_of(user.id)
        current = {m.channel_id for m in memberships if m.source in ORG_SOURCES}
        manual = {m.channel_id for m in memberships if m.source not in ORG_SOURCES}
        change = diff_memberships(current, desired - manual)
        for channel_id in sorted(change.leave):
            await leave(ctx, uow, channel_id, user.id, by=by)
            left += 1
        for channel_id in sorted(change.join):
            channel = org.channel(channel_id)
            source = "all_staff" if channel.slug == ALL_STAFF_SLUG else "department"
            join(ctx, uow, channel, user.id, source=source, now=now, by=by)
            joined += 1
    return joined, left
