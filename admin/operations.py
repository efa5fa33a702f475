"""Operations (admins): the PBX event log and webhook secrets, the extension directory,
working hours and holidays, disaster mode, and this node's health."""

from __future__ import annotations

from datetime import time
from typing import Any

from sqlalchemy import text
from starlette.responses import Response

from admin.views import ADMINS, Console, page
from chat.actions import pbx_directory as directory_actions
from chat.actions import pbx_ingest as ingest_actions
from chat.actions import pbx_secrets as secret_actions
from chat.actions import policy as policy_actions
from chat.actions.nodes import recent_nodes
from chat.domain.hours import WEEKDAY_KEYS, WorkingHours
from chat.domain.pbx_formats.registry import default_format, formats
from chat.errors import BadRequest
from chat.hub import Hub
from chat.web.pbx_webhooks import PbxRejections

INTERVALS_PER_DAY = 2


# --- PBX -------------------------------------------------------------------------------------

@page(ADMINS, what="see the PBX event log")
async def pbx_events(c: Console) -> Response:
    outcome = c.request.query_params.get("outcome") or None
    if outcome not in {None, "applied", "no_change", "ignored"}:
        raise BadRequest("unknown outcome")
    events = await ingest_actions.recent_events(c.ctx, limit=200, outcome=outcome)
    rejections: PbxRejections = c.request.state.pbx_rejections
    return c.render("pbx_events.html", events=events, outcome=outcome or "",
                    rejected=rejections.recent())


async def _secrets_page(c: Console, *, created: tuple[str, str] | None = None,
                        location: str | None = None) -> Response:
    return c.render("pbx_secrets.html", secrets=await secret_actions.list_secrets(c.ctx),
                    formats=formats(), created=created, location=location,
                    supplied_kinds={f.name for f in formats() if f.operator_supplies_secret})


@page(ADMINS, what="manage PBX secrets")
async def pbx_secrets(c: Console) -> Response:
    return await _secrets_page(c)


@page(ADMINS, what="manage PBX secrets")
async def create_secret(c: Console) -> Response:
    """Create (or, with ``rotate_from``, add the successor of) a secret. The value is
    shown once, in this answer only; the old secret stays valid until retired, so the
    PBX can switch without losing events."""
    rotate_from = c.request.path_params.get("name")
    kind = c.field("kind", limit=16) or default_format().name
    if rotate_from is not None:
        current = {s["name"]: s for s in await secret_actions.list_secrets(c.ctx)}
        old = current.get(str(rotate_from))
        if old is None or old["retired_at"] is not None:
            raise BadRequest(f"no active secret named {rotate_from}")
        kind = str(old["kind"])
    name = c.field("name", limit=64, required=True)
    value = await secret_actions.create_secret(c.ctx, name=name, by=c.by, kind=kind,
                                            value=c.field("value") or None)
    return await _secrets_page(c, created=(name, value), location="/admin/pbx/secrets")


@page(ADMINS, what="manage PBX secrets")
async def retire_secret(c: Console) -> Response:
    await secret_actions.retire_secret(c.ctx, name=str(c.request.path_params["name"]), by=c.by)
    c.notices.append(c.t("pbx_secrets.retired_done"))
    return await _secrets_page(c, location="/admin/pbx/secrets")


@page(ADMINS, what="see the extension directory")
async def pbx_directory(c: Console) -> Response:
    return c.render("pbx_directory.html", entries=await directory_actions.directory_listing(c.ctx))


# --- working hours, holidays, disaster mode ---------------------------------------------------

def _hhmm(moment: time) -> str:
    return moment.strftime("%H:%M")


def _week_fields(hours: WorkingHours) -> list[dict[str, Any]]:
    days = []
    for key, intervals in zip(WEEKDAY_KEYS, hours.weekdays, strict=True):
        slots = [(_hhmm(a), _hhmm(b)) for a, b in intervals][:INTERVALS_PER_DAY]
        slots += [("", "")] * (INTERVALS_PER_DAY - len(slots))
        days.append({"key": key, "slots": slots})
    return days


async def _policy_page(c: Console, *, location: str | None = None, status: int = 200,
                       error: str | None = None) -> Response:
    policy, _ = await policy_actions.current_policy(c.ctx)
    hours = policy.hours
    return c.render("policy.html", days=_week_fields(hours), hours=hours,
                    holidays="\n".join(sorted(d.isoformat() for d in hours.holidays)),
                    disaster=policy.disaster_mode, location=location, status=status,
                    error=error,
                    enforced=c.ctx.policy is not None and c.ctx.policy.enabled)


@page(ADMINS, what="see working hours")
async def policy(c: Console) -> Response:
    return await _policy_page(c)


@page(ADMINS, what="set working hours")
async def set_hours(c: Console) -> Response:
    current, _ = await policy_actions.current_policy(c.ctx)
    weekdays: dict[str, list[list[str]]] = {}
    for key in WEEKDAY_KEYS:
        slots = []
        for i in range(1, INTERVALS_PER_DAY + 1):
            start, end = c.field(f"{key}_open{i}", limit=5), c.field(f"{key}_close{i}", limit=5)
            if start or end:
                slots.append([start, end])
        weekdays[key] = slots
    config = {"timezone": current.hours.timezone, "weekdays": weekdays,
              "holidays": c.field("holidays", limit=20_000).split(),
              "year_end_closure": c.field("year_end_closure", limit=1) == "1"}
    try:
        await policy_actions.set_working_hours(c.ctx, config, by=c.by,
                                               actor_user_id=c.actor.user_id)
    except BadRequest as error:
        return await _policy_page(c, status=400, error=error.message)
    c.notices.append(c.t("policy.saved"))
    return await _policy_page(c, location="/admin/policy")


@page(ADMINS, what="switch disaster mode")
async def set_disaster(c: Console) -> Response:
    on = c.field("on", limit=1) == "1"
    await policy_actions.set_disaster_mode(c.ctx, on, by=c.by, actor_user_id=c.actor.user_id)
    return await _policy_page(c, location="/admin/policy")


# --- health -------------------------------------------------------------------------------------

@page(ADMINS, what="see the health page")
async def health(c: Console) -> Response:
    hub: Hub = c.request.state.hub
    try:
        async with c.ctx.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = True
    except Exception:
        database = False
    nodes = await recent_nodes(c.ctx) if database else []
    return c.render("health.html", node=c.ctx.settings.node_id, database=database, nodes=nodes,
                    bus=hub.healthy, bus_url=c.ctx.settings.bus_url.split("://")[0],
                    connections=len(hub.connections), online=len(hub.online_user_ids()),
                    dialect=c.ctx.db.dialect)
