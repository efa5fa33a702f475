"""Records: auditor search, a message's full history, exports, retention periods, legal
holds and ``audit verify``.

Every read of message content goes through :mod:`chat.actions.records`, which checks the
role and audits the read before returning it; nothing here queries message text."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from admin.tasks import ConsoleState
from admin.views import ADMINS, AUDITORS, EITHER, Console, page
from chat.actions import exports as export_actions
from chat.actions import records as record_actions
from chat.actions import retention as retention_actions
from chat.domain.dates import parse_moment
from chat.domain.export import parse_formats
from chat.domain.records import RecordFilters, parse_filters
from chat.domain.roles import ChannelKind
from chat.errors import BadRequest
from chat.store.uow import TxMode, unit_of_work
from chat.web.records import ExportTasks

FILTER_FIELDS = ("q", "user", "channel_id", "from", "to")
# What the search and export forms carry: the filters and the auditor's reason (required;
# the people whose messages are read see it, docs/audit.md).
FIELDS = (*FILTER_FIELDS, "reason")
PAGE = 50


def _filters(values: dict[str, Any]) -> RecordFilters:
    try:
        return parse_filters(user=values.get("user") or None,
                             channel_id=values.get("channel_id") or None,
                             since=values.get("from") or None, until=values.get("to") or None,
                             words=values.get("q") or None)
    except ValueError as error:
        raise BadRequest(str(error)) from None


# --- search and history ------------------------------------------------------------------------

@page(AUDITORS, what="search records")
async def search(c: Console) -> Response:
    params = c.request.query_params
    given = {name: params.get(name, "")[:500 if name == "reason" else 200] for name in FIELDS}
    result = None
    if params.get("run") == "1":
        result = await record_actions.search_messages(
            c.ctx, actor=c.actor, filters=_filters(given),
            cursor=params.get("cursor") or None, limit=PAGE, remote=c.remote,
            reason=given["reason"])
    return c.render("search.html", given=given, result=result)


@page(AUDITORS, what="view a message's history")
async def message(c: Console) -> Response:
    result = await record_actions.message_history(
        c.ctx, actor=c.actor, message_id=int(c.request.path_params["message_id"]),
        remote=c.remote, reason=c.request.query_params.get("reason", ""))
    return c.render("message.html", message=result["message"])


# --- exports -------------------------------------------------------------------------------------

@page(AUDITORS, what="see exports")
async def exports(c: Console) -> Response:
    params = c.request.query_params
    given = {name: params.get(name, "")[:500 if name == "reason" else 200] for name in FIELDS}
    jobs = await export_actions.list_exports(c.ctx, actor=c.actor, remote=c.remote)
    return c.render("exports.html", jobs=jobs, given=given)


@page(AUDITORS, what="export records")
async def start_export(c: Console) -> Response:
    form = c.form
    assert form is not None
    chosen = [v for v in form.getlist("formats") if isinstance(v, str)]
    try:
        formats = parse_formats(chosen or None)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    job = await export_actions.start_export(
        c.ctx, actor=c.actor, formats=formats, remote=c.remote,
        filters=_filters({name: c.field(name) for name in FILTER_FIELDS}),
        reason=c.field("reason", limit=500))
    tasks: ExportTasks = c.request.state.export_tasks
    tasks.start(c.ctx, job["id"])
    return c.render("export.html", job=job, location=f"/admin/records/exports/{job['id']}")


@page(AUDITORS, what="see exports")
async def export(c: Console) -> Response:
    job = await export_actions.export_status(
        c.ctx, actor=c.actor, job_id=int(c.request.path_params["export_id"]), remote=c.remote)
    return c.render("export.html", job=job)


# --- retention periods and legal holds ---------------------------------------------------------

async def _retention_page(c: Console, *, location: str | None = None) -> Response:
    return c.render("retention.html", policies=await retention_actions.list_policies(c.ctx),
                    kinds=[k.value for k in ChannelKind], location=location)


@page(EITHER, what="see retention periods")
async def retention(c: Console) -> Response:
    return await _retention_page(c)


@page(ADMINS, what="set retention periods")
async def set_retention(c: Console) -> Response:
    kind = c.field("channel_kind", limit=16) or None
    channel = c.field("channel_id", limit=12)
    if channel and not channel.isdigit():
        raise BadRequest("channel_id must be a number")
    years = c.field("keep_years", limit=8)
    scope: dict[str, Any] = {"channel_kind": None if channel else kind,
                             "channel_id": int(channel) if channel else None}
    if years == "clear":
        await retention_actions.clear_policy(c.ctx, by=c.by, actor_user_id=c.actor.user_id,
                                             **scope)
    else:
        if years != "forever" and not years.isdigit():
            raise BadRequest("keep_years must be a number of years or forever")
        await retention_actions.set_policy(
            c.ctx, keep_years=None if years == "forever" else int(years), by=c.by,
            actor_user_id=c.actor.user_id, **scope)
    c.notices.append(c.t("retention.saved"))
    return await _retention_page(c, location="/admin/records/retention")


async def _holds_page(c: Console, *, location: str | None = None, status: int = 200
                      ) -> Response:
    include = c.request.query_params.get("all") == "1"
    return c.render("holds.html", location=location, status=status, include_released=include,
                    holds=await retention_actions.list_holds(c.ctx,
                                                            include_released=include))


@page(EITHER, what="see legal holds")
async def holds(c: Console) -> Response:
    return await _holds_page(c)


@page(AUDITORS, what="place legal holds")
async def place_hold(c: Console) -> Response:
    since, until = c.field("since", limit=40), c.field("until", limit=40)
    channel = c.field("channel_id", limit=12)
    if channel and not channel.isdigit():
        raise BadRequest("channel_id must be a number")
    try:
        starts = parse_moment(since, name="since") if since else None
        ends = parse_moment(until, name="until", end_of_day=True) if until else None
    except ValueError as error:
        raise BadRequest(str(error)) from None
    await retention_actions.place_hold(
        c.ctx, reason=c.field("reason", required=True), by=c.by,
        staff_number=c.field("staff_number", limit=32) or None,
        channel_id=int(channel) if channel else None, starts_at=starts, ends_at=ends,
        actor_user_id=c.actor.user_id, confidential=c.field("confidential", limit=8) == "1")
    c.notices.append(c.t("holds.placed"))
    return await _holds_page(c, location="/admin/records/holds")


@page(AUDITORS, what="release legal holds")
async def release_hold(c: Console) -> Response:
    await retention_actions.release_hold(c.ctx, int(c.request.path_params["hold_id"]),
                                         by=c.by, actor_user_id=c.actor.user_id)
    c.notices.append(c.t("holds.released"))
    return await _holds_page(c, location="/admin/records/holds")


# --- audit verify ------------------------------------------------------------------------

def _console_state(request: Request) -> ConsoleState:
    state: ConsoleState = request.state.console
    return state


async def _verify_page(c: Console, *, location: str | None = None) -> Response:
    async with unit_of_work(c.ctx.db, TxMode.READ) as uow:
        checkpoint = await uow.audit.last_checkpoint()
        head = await uow.audit.head()
    return c.render("verify.html", run=_console_state(c.request).verify, checkpoint=checkpoint,
                    head=head, location=location)


@page(AUDITORS, what="see the audit log's verification")
async def verify(c: Console) -> Response:
    return await _verify_page(c)


@page(AUDITORS, what="verify the audit log")
async def start_verify(c: Console) -> Response:
    _console_state(c.request).start_verify(c.ctx, actor=c.actor, by=c.by)
    return await _verify_page(c, location="/admin/records/verify")
