"""HTTP API for administrators and records keepers, with the duties kept apart.

Admins (``/api/admin/...``) manage devices, accounts and retention periods; auditors
(``/api/records/holds``) place and release legal holds; auditor search and export live
in :mod:`chat.web.records`. Every action here is audited by the action it calls, and
every refusal by :func:`chat.web.auth.require_role`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions import devices as device_actions
from chat.actions import retention as retention_actions
from chat.auth.sessions import Principal
from chat.domain.dates import parse_moment
from chat.domain.roles import PEOPLE_ADMINS, RECORDS_KEEPERS
from chat.errors import BadRequest, NotFound
from chat.web.auth import app_context, require_role
from chat.web.errors import read_json_object


def _by(actor: Principal) -> str:
    return f"{actor.name} (user {actor.user_id})"[:100]


def _optional_str(body: dict[str, object], name: str, *, limit: int = 200) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(f"{name} must be a string of at most {limit} characters")
    return value


def _optional_int(body: dict[str, object], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer")
    return value


# --- admins: devices, accounts, retention periods --------------------------------------

async def list_devices(request: Request) -> JSONResponse:
    await require_role(request, PEOPLE_ADMINS, what="list devices")
    rows = await device_actions.list_devices(
        app_context(request), staff_number=request.query_params.get("staff_number") or None)
    return JSONResponse({"devices": rows})


async def revoke_device(request: Request) -> JSONResponse:
    actor = await require_role(request, PEOPLE_ADMINS, what="revoke devices")
    body = await read_json_object(request)
    reason = _optional_str(body, "reason") or "revoked by an administrator"
    ended = await device_actions.revoke_device(
        app_context(request), device_id=int(request.path_params["device_id"]),
        reason=reason, by=_by(actor), actor_user_id=actor.user_id)
    return JSONResponse({"revoked": True, "sessions_ended": len(ended)})


async def set_account(request: Request) -> JSONResponse:
    state = request.path_params["state"]
    if state not in {"enable", "disable"}:
        raise NotFound("Accounts can be enabled or disabled")
    actor = await require_role(request, PEOPLE_ADMINS, what="disable or enable accounts")
    active = state == "enable"
    ended = await device_actions.set_user_active(
        app_context(request), staff_number=request.path_params["staff_number"],
        active=active, by=_by(actor), actor_user_id=actor.user_id)
    return JSONResponse({"active": active, "sessions_ended": len(ended)})


async def retention_policies(request: Request) -> JSONResponse:
    ctx = app_context(request)
    if request.method == "GET":
        await require_role(request, PEOPLE_ADMINS | RECORDS_KEEPERS,
                           what="see retention periods")
        return JSONResponse({"policies": await retention_actions.list_policies(ctx)})
    actor = await require_role(request, PEOPLE_ADMINS, what="set retention periods")
    body = await read_json_object(request)
    if "keep_years" not in body:
        raise BadRequest("keep_years is required (a number of years, or null for forever)")
    policy = await retention_actions.set_policy(
        ctx, keep_years=_optional_int(body, "keep_years"), by=_by(actor),
        channel_kind=_optional_str(body, "channel_kind", limit=16),
        channel_id=_optional_int(body, "channel_id"), actor_user_id=actor.user_id)
    return JSONResponse(policy)


# --- auditors: legal holds --------------------------------------------------------------

async def holds(request: Request) -> JSONResponse:
    ctx = app_context(request)
    if request.method == "GET":
        await require_role(request, RECORDS_KEEPERS | PEOPLE_ADMINS, what="see legal holds")
        include = request.query_params.get("all") in {"1", "true"}
        return JSONResponse({"holds": await retention_actions.list_holds(
            ctx, include_released=include)})
    actor = await require_role(request, RECORDS_KEEPERS, what="place legal holds")
    body = await read_json_object(request)
    try:
        since, until = _optional_str(body, "since", limit=40), _optional_str(
            body, "until", limit=40)
        starts = parse_moment(since, name="since") if since else None
        ends = parse_moment(until, name="until", end_of_day=True) if until else None
    except ValueError as error:
        raise BadRequest(str(error)) from None
    hold = await retention_actions.place_hold(
        ctx, reason=_optional_str(body, "reason") or "", by=_by(actor),
        staff_number=_optional_str(body, "staff_number", limit=32),
        channel_id=_optional_int(body, "channel_id"), starts_at=starts, ends_at=ends,
        actor_user_id=actor.user_id, confidential=body.get("confidential") is True)
    return JSONResponse(hold, status_code=201)


async def release_hold(request: Request) -> JSONResponse:
    actor = await require_role(request, RECORDS_KEEPERS, what="release legal holds")
    hold = await retention_actions.release_hold(
        app_context(request), int(request.path_params["hold_id"]), by=_by(actor),
        actor_user_id=actor.user_id)
    return JSONResponse(hold)


routes = [
    Route("/api/admin/devices", list_devices),
    Route("/api/admin/devices/{device_id:int}/revoke", revoke_device, methods=["POST"]),
    Route("/api/admin/users/{staff_number}/{state:str}", set_account, methods=["POST"]),
    Route("/api/admin/retention", retention_policies, methods=["GET", "PUT"]),
    Route("/api/records/holds", holds, methods=["GET", "POST"]),
    Route("/api/records/holds/{hold_id:int}/release", release_hold, methods=["POST"]),
]
