"""People and the org chart (admins): the departments tree, the staff list, one person's
role, account and channels, and CSV imports of staff and of the extension directory with
a preview of what they would change."""

from __future__ import annotations

from starlette.responses import Response

from admin.views import ADMINS, Console, page
from chat.actions import devices as device_actions
from chat.actions import orgchart, orgchart_edits, orgchart_reads
from chat.actions import pbx_directory as directory_actions
from chat.domain.directory import parse_directory
from chat.domain.imports import CsvProblems, parse_staff
from chat.domain.roles import Role
from chat.errors import BadRequest, UserNotFound
from chat.store.uow import TxMode, unit_of_work

ROLES = [role.value for role in Role]


# --- departments -----------------------------------------------------------------------------

async def _departments_page(c: Console, *, status: int = 200, location: str | None = None,
                            error: str | None = None) -> Response:
    return c.render("departments.html", departments=await orgchart_reads.department_tree(c.ctx),
                    error=error, status=status, location=location)


@page(ADMINS, what="see the org chart")
async def departments(c: Console) -> Response:
    return await _departments_page(c)


@page(ADMINS, what="edit the org chart")
async def save_department(c: Console) -> Response:
    create = "code" not in c.request.path_params
    code = c.field("code", limit=32, required=True) if create \
        else str(c.request.path_params["code"])
    try:
        report = await orgchart_edits.save_department(
            c.ctx, code=code, name=c.field("name", limit=100, required=True),
            kana=c.field("kana", limit=200), parent_code=c.field("parent_code", limit=32),
            by=c.by, actor_user_id=c.actor.user_id, create=create)
    except BadRequest as error:
        return await _departments_page(c, status=400, error=error.message)
    c.notices.append(c.t("departments.saved", joined=report.joined, left=report.left))
    return await _departments_page(c, location="/admin/departments")


# --- staff -------------------------------------------------------------------------------------

@page(ADMINS, what="list staff")
async def staff(c: Console) -> Response:
    params = c.request.query_params
    active = {"1": True, "0": False}.get(params.get("active", ""))
    role = params.get("role") or None
    if role is not None and role not in ROLES:
        raise BadRequest(f"unknown role {role!r}")
    filters = orgchart_reads.StaffFilter(department_code=params.get("department") or None,
                                   role=role, active=active, query=params.get("q", "")[:100])
    people = await orgchart_reads.list_staff(c.ctx, filters)
    return c.render("staff.html", people=people, filters=filters, roles=ROLES,
                    departments=await orgchart_reads.department_tree(c.ctx))


async def _person_page(c: Console, staff_number: str, *, location: str | None = None
                       ) -> Response:
    async with unit_of_work(c.ctx.db, TxMode.READ) as uow:
        user = await uow.users.by_staff_number(staff_number)
        department = await uow.departments.get(user.department_id) \
            if user and user.department_id else None
    if user is None:
        raise UserNotFound(f"No staff member has the number {staff_number!r}")
    channels = await orgchart_reads.staff_channels(c.ctx, user.id)
    devices = await device_actions.list_devices(c.ctx, staff_number=staff_number)
    return c.render("person.html", person=user, department=department, channels=channels,
                    devices=devices, roles=ROLES, location=location)


@page(ADMINS, what="see a staff member")
async def person(c: Console) -> Response:
    return await _person_page(c, str(c.request.path_params["staff_number"]))


@page(ADMINS, what="change roles")
async def change_role(c: Console) -> Response:
    staff_number = str(c.request.path_params["staff_number"])
    changed = await orgchart_edits.change_role(c.ctx, staff_number=staff_number,
                                         role=c.field("role", limit=16, required=True),
                                         by=c.by, actor_user_id=c.actor.user_id)
    c.notices.append(c.t("staff.role_changed" if changed else "staff.role_same"))
    return await _person_page(c, staff_number, location=f"/admin/staff/{staff_number}")


@page(ADMINS, what="disable or enable accounts")
async def set_active(c: Console) -> Response:
    staff_number = str(c.request.path_params["staff_number"])
    active = c.field("active", limit=1) == "1"
    ended = await device_actions.set_user_active(c.ctx, staff_number=staff_number,
                                                 active=active, by=c.by,
                                                 actor_user_id=c.actor.user_id)
    c.notices.append(c.t("staff.enabled") if active
                     else c.t("staff.disabled", count=len(ended)))
    return await _person_page(c, staff_number, location=f"/admin/staff/{staff_number}")


# --- CSV imports -------------------------------------------------------------------------------

@page(ADMINS, what="import staff and the directory")
async def imports(c: Console) -> Response:
    return c.render("imports.html")


async def _known(c: Console) -> tuple[set[str], set[str]]:
    async with unit_of_work(c.ctx.db, TxMode.READ) as uow:
        return ({d.code for d in await uow.departments.all()},
                {u.staff_number for u in await uow.users.all()})


@page(ADMINS, what="import staff and the directory")
async def import_staff(c: Console) -> Response:
    """Step ``preview`` shows what the file would change and carries the file on in a
    hidden field; step ``apply`` imports it. Both parse and plan by the same rule
    (:func:`chat.domain.imports.plan_staff_import`)."""
    text = await c.upload_text("file", "csv")
    departments, _ = await _known(c)
    try:
        rows = parse_staff(text, known_departments=departments)
    except CsvProblems as problems:
        return c.render("imports.html", status=400, kind="staff", problems=problems.problems)
    if c.field("step", limit=16) == "apply":
        report = await orgchart.import_staff(c.ctx, rows, by=c.by,
                                             actor_user_id=c.actor.user_id)
        c.notices.append(c.t("imports.applied_staff", **vars(report)))
        return c.render("imports.html", location="/admin/imports")
    previews = await orgchart.preview_staff_import(c.ctx, rows)
    changed = [p for p in previews if p.change.kind != "unchanged"]
    return c.render("import_staff_preview.html", previews=changed, csv_text=text,
                    unchanged=len(previews) - len(changed))


@page(ADMINS, what="import staff and the directory")
async def import_directory(c: Console) -> Response:
    text = await c.upload_text("file", "csv")
    departments, staff_numbers = await _known(c)
    try:
        rows = parse_directory(text, known_staff=staff_numbers,
                               known_departments=departments,
                               country_code=c.ctx.settings.pbx_country_code)
    except CsvProblems as problems:
        return c.render("imports.html", status=400, kind="directory",
                        problems=problems.problems)
    if c.field("step", limit=16) == "apply":
        report = await directory_actions.import_directory(c.ctx, rows, by=c.by,
                                                    actor_user_id=c.actor.user_id)
        c.notices.append(c.t("imports.applied_directory", **vars(report)))
        return c.render("imports.html", location="/admin/imports")
    diff = await directory_actions.preview_directory(c.ctx, rows)
    by_number = {row.number: row for row in rows}
    return c.render("import_directory_preview.html", diff=diff, rows=by_number,
                    csv_text=text)
