"""災害モード (crisis staff and admins): what is declared now and the history, declaring
a disaster or a drill and ending it, and who joins the HQ channel (災害対策本部). Every
change goes through ``chat.actions.disaster``, as the phone's and the CLI's do; the old
off-hours switch on the policy page stays as a low-level switch."""

from __future__ import annotations

import re

from starlette.responses import Response

from admin.views import DISASTER_STAFF, Console, page
from chat.actions import disaster as disaster_actions
from chat.errors import BadRequest, DisasterActive, NoActiveDisaster

_SEPARATORS = re.compile(r"[\s,、，]+")


async def _disaster_page(c: Console, *, location: str | None = None, status: int = 200,
                         error: str | None = None) -> Response:
    return c.render("disaster.html", current=await disaster_actions.current_disaster(c.ctx),
                    history=await disaster_actions.recent_disasters(c.ctx, limit=20),
                    hq_members=" ".join(await disaster_actions.configured_hq_members(c.ctx)),
                    location=location, status=status, error=error)


@page(DISASTER_STAFF, what="see disaster mode")
async def disaster(c: Console) -> Response:
    return await _disaster_page(c)


@page(DISASTER_STAFF, what="declare a disaster or drill")
async def declare(c: Console) -> Response:
    try:
        state = await disaster_actions.declare_disaster(
            c.ctx, name=c.field("name", limit=200, required=True),
            drill=c.field("drill", limit=1) == "1", by=c.by, actor_user_id=c.actor.user_id,
            actor_role=c.actor.role)
    except (BadRequest, DisasterActive) as refused:
        return await _disaster_page(c, status=refused.http_status, error=refused.message)
    c.notices.append(c.t("disaster.declared_done", title=state.title))
    return await _disaster_page(c, location="/admin/disaster")


@page(DISASTER_STAFF, what="end a disaster or drill")
async def end(c: Console) -> Response:
    try:
        state = await disaster_actions.end_disaster(c.ctx, by=c.by,
                                                    actor_user_id=c.actor.user_id,
                                                    actor_role=c.actor.role)
    except NoActiveDisaster as refused:
        return await _disaster_page(c, status=refused.http_status, error=refused.message)
    c.notices.append(c.t("disaster.ended_done", title=state.title))
    return await _disaster_page(c, location="/admin/disaster")


@page(DISASTER_STAFF, what="set the HQ members")
async def set_hq_members(c: Console) -> Response:
    numbers = [n for n in _SEPARATORS.split(c.field("staff_numbers", limit=20_000)) if n]
    try:
        saved = await disaster_actions.set_hq_members(c.ctx, numbers, by=c.by,
                                                      actor_user_id=c.actor.user_id)
    except BadRequest as refused:
        return await _disaster_page(c, status=400, error=refused.message)
    c.notices.append(c.t("disaster.hq_saved", n=len(saved)))
    return await _disaster_page(c, location="/admin/disaster")
