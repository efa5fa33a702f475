"""The console's edits of the org chart: one department saved, one person's role changed.
Each is audited, and a department's channel and memberships follow it at once."""

from __future__ import annotations

from chat.actions.orgchart import (
    ImportReport,
    department_depth,
    ensure_department_channels,
    sync_org_memberships,
)
from chat.audit.record import audit_within
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.imports import (
    infer_level,
)
from chat.domain.orgchart import (
    OrgChartError,
    check_tree,
)
from chat.domain.roles import parse_role
from chat.errors import BadRequest, NotFound, UserNotFound
from chat.store.models import Department
from chat.store.uow import TxMode, unit_of_work

# --- the console's edits: one department, one person's role -------------------------------

MAX_NAME_CHARS = 100


def _clean(value: str, what: str, *, limit: int = MAX_NAME_CHARS, required: bool = True
           ) -> str:
    value = " ".join(value.split())
    if required and not value:
        raise BadRequest(f"{what} is required")
    if len(value) > limit:
        raise BadRequest(f"{what} may have at most {limit} characters")
    return value


async def save_department(ctx: AppContext, *, code: str, name: str, kana: str = "",
                          parent_code: str | None, by: str, actor_user_id: int | None = None,
                          create: bool = False) -> ImportReport:
    """Create a department (``create=True``) or rename and move an existing one in the
    tree. Its channel follows (created, renamed); a move changes the memberships of the
    people under it, exactly as an import of the whole tree would. Audited as
    ``orgchart.department_created`` / ``orgchart.department_changed`` with before and
    after. Raises BadRequest (a cycle, an unknown parent, a code in use), NotFound."""
    code = _clean(code, "code", limit=32)
    name, kana = _clean(name, "name"), _clean(kana, "kana", limit=200, required=False)
    parent_code = _clean(parent_code or "", "parent", limit=32, required=False) or None
    report = ImportReport()
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        departments = {d.code: d for d in await uow.departments.all()}
        parent = departments.get(parent_code) if parent_code else None
        if parent_code and parent is None:
            raise BadRequest(f"department {parent_code} does not exist")
        dept = departments.get(code)
        if create:
            if dept is not None:
                raise BadRequest(f"department {code} already exists")
            dept = Department(code=code, name=name, kana=kana, level="bu",
                              sort_order=max((d.sort_order for d in departments.values()),
                                             default=0) + 1,
                              parent_id=None, created_at=now)
            uow.departments.add(dept)
            await uow.flush()
            departments[code] = dept
            report.created = 1
        elif dept is None:
            raise NotFound(f"department {code} does not exist")
        before = {"name": dept.name, "kana": dept.kana,
                  "parent_id": dept.parent_id, "level": dept.level}
        parents = {d.id: d.parent_id for d in departments.values()}
        parents[dept.id] = parent.id if parent else None
        try:
            check_tree(parents)
        except OrgChartError:
            raise BadRequest(f"department {code} cannot sit under {parent_code}: "
                             "that would make a cycle") from None
        moved = not create and dept.parent_id != parents[dept.id]
        dept.name, dept.kana, dept.parent_id = name, kana, parents[dept.id]
        dept.level = infer_level(department_depth(dept.id, parents))
        if moved:
            # Levels below a moved department follow its new depth.
            for other in departments.values():
                other.level = infer_level(department_depth(other.id, parents))
        after = {"name": dept.name, "kana": dept.kana,
                 "parent_id": dept.parent_id, "level": dept.level}
        if not create and before == after:
            report.unchanged = 1
            return report
        await uow.flush()
        report.channels_created = await ensure_department_channels(uow, now)
        if moved:
            report.updated = 1
            report.joined, report.left = await sync_org_memberships(
                ctx, uow, await uow.users.all(), now=now, by=by)
        elif not create:
            report.updated = 1
        audit_within(ctx, uow, AuditAction.ORGCHART_DEPARTMENT_CREATED if create
                     else AuditAction.ORGCHART_DEPARTMENT_CHANGED, actor_user_id=actor_user_id,
                     by=by, code=code, name=name, parent_id=dept.parent_id,
                     before_name=None if create else str(before["name"]),
                     before_parent_id=None if create else _int_or_none(before["parent_id"]))
    return report


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


async def change_role(ctx: AppContext, *, staff_number: str, role: str, by: str,
                      actor_user_id: int | None = None) -> bool:
    """Give a person another role (audited as ``user.role_changed`` with before and
    after). Returns False when it was already theirs. The role is read on every request,
    so the change takes effect at the person's next one."""
    try:
        new_role = parse_role(role).value
    except ValueError as error:
        raise BadRequest(str(error)) from None
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        user = await uow.users.by_staff_number(staff_number)
        if user is None:
            raise UserNotFound(f"No staff member has the number {staff_number!r}")
        if user.role == new_role:
            return False
        audit_within(ctx, uow, AuditAction.USER_ROLE_CHANGED, actor_user_id=actor_user_id,
                     subject_user_id=user.id, by=by, before=user.role, after=new_role)
        user.role, user.updated_at = new_role, ctx.clock.now()
    return True
