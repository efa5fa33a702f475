"""HTTP JSON API: channels, history, search and the staff directory."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions import channels as channel_actions
from chat.actions import message_reads, message_search
from chat.actions import reactions as reaction_actions
from chat.actions import sessions as session_actions
from chat.auth.sessions import idle_deadline, record_use
from chat.domain.dates import wire_time, wire_time_or_none
from chat.errors import BadRequest, UserNotFound
from chat.store.uow import TxMode, unit_of_work
from chat.web.auth import app_context, clear_session_cookie, require_principal
from chat.web.errors import read_json_object

DEFAULT_PAGE = 50
DIRECTORY_MAX = 2000


def _int_param(request: Request, name: str, *, default: int | None = None,
               low: int = 0, high: int = 2**62) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def _int_field(body: dict[str, object], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f"{name} must be an integer")
    return value


async def me(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    async with unit_of_work(app_context(request).db, TxMode.READ) as uow:
        user = await uow.users.get(actor.user_id)
        if user is None:
            raise UserNotFound()
        dept = await uow.departments.get(user.department_id) if user.department_id else None
    return JSONResponse({"id": user.id, "staff_number": user.staff_number, "name": user.name,
                         "kana": user.kana, "role": user.role, "extension": user.extension,
                         "department": dept.name if dept else None,
                         "session": {
                             "id": actor.session_id, "device_id": actor.device_id,
                             "bound": actor.jkt is not None,
                             "expires_at": _iso(actor.expires_at),
                             "idle_expires_at": _iso(actor.idle_expires_at)}})


_iso = wire_time_or_none


async def list_channels(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    channels = await channel_actions.list_channels(app_context(request), actor=actor)
    return JSONResponse({"channels": channels})


async def open_direct(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    channel = await channel_actions.open_direct(
        app_context(request), actor=actor, other_user_id=_int_field(body, "user_id"))
    return JSONResponse(channel)


async def create_group(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    name, member_ids = body.get("name"), body.get("member_ids")
    if not isinstance(name, str):
        raise BadRequest("name must be a string")
    if not isinstance(member_ids, list) or not all(
            isinstance(m, int) and not isinstance(m, bool) for m in member_ids):
        raise BadRequest("member_ids must be a list of integers")
    channel = await channel_actions.create_group(
        app_context(request), actor=actor, name=name, member_ids=member_ids)
    return JSONResponse(channel, status_code=201)


async def history(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    ctx = app_context(request)
    page = await message_reads.history(
        ctx, actor=actor, channel_id=int(request.path_params["channel_id"]),
        before_seq=_int_param(request, "before_seq"),
        limit=_int_param(request, "limit", default=DEFAULT_PAGE, low=1,
                         high=ctx.settings.history_page_max) or DEFAULT_PAGE)
    return JSONResponse(page)


async def revisions(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    items = await message_reads.revisions(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"]))
    return JSONResponse({"revisions": items})


async def search_messages(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    hits = await message_search.search(
        app_context(request), actor=actor, query=request.query_params.get("q", ""),
        limit=_int_param(request, "limit", default=50, low=1, high=200) or 50,
        channel_id=_int_param(request, "channel_id"))
    return JSONResponse({"results": hits})


async def search_users(request: Request) -> JSONResponse:
    await require_principal(request)
    query = request.query_params.get("q", "").strip()
    if len(query) > 100:
        raise BadRequest("The search query is longer than 100 characters")
    # The whole city (about 700 people) fits in one page: phones load it once.
    limit = _int_param(request, "limit", default=50, low=1, high=DIRECTORY_MAX) or 50
    async with unit_of_work(app_context(request).db, TxMode.READ) as uow:
        rows = await uow.users.search_directory(query, limit=limit)
    return JSONResponse({"users": [
        {"id": u.id, "name": u.name, "kana": u.kana, "extension": u.extension,
         "role": u.role, "department": d.name if d else None}
        for u, d in rows]})


async def departments(request: Request) -> JSONResponse:
    """The org chart (部 → 課 → 係), so a client can group department channels."""
    await require_principal(request)
    async with unit_of_work(app_context(request).db, TxMode.READ) as uow:
        rows = await uow.departments.all()
    return JSONResponse({"departments": [
        {"id": d.id, "code": d.code, "name": d.name, "kana": d.kana, "level": d.level,
         "parent_id": d.parent_id, "sort_order": d.sort_order} for d in rows]})


async def pins(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    channel_id = int(request.path_params["channel_id"])
    messages = await reaction_actions.pinned_messages(app_context(request), actor=actor,
                                                      channel_id=channel_id)
    return JSONResponse({"channel_id": channel_id, "messages": messages})


async def readers(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse(await reaction_actions.readers(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"])))


async def mute(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    muted = body.get("muted")
    if not isinstance(muted, bool):
        raise BadRequest("muted must be true or false")
    return JSONResponse(await channel_actions.set_muted(
        app_context(request), actor=actor, channel_id=int(request.path_params["channel_id"]),
        muted=muted))


async def sign_out(request: Request) -> JSONResponse:
    ctx = app_context(request)
    # Signing out works at any hour: the off-hours policy must not keep a session alive.
    actor = await require_principal(request, touch=False, policy=False)
    await session_actions.sign_out(ctx, actor=actor)
    response = JSONResponse({"signed_out": True})
    clear_session_cookie(response, ctx)
    return response


async def refresh(request: Request) -> JSONResponse:
    """Keep the session alive without a passkey prompt: possession of the device key
    (this request's proof) slides the idle deadline; the absolute one stays."""
    ctx = app_context(request)
    actor = await require_principal(request, touch=False)
    await record_use(ctx, session_id=actor.session_id, device_id=actor.device_id)
    assert actor.expires_at is not None
    return JSONResponse({
        "expires_at": wire_time(actor.expires_at),
        "idle_expires_at": wire_time(idle_deadline(ctx, ctx.clock.now())),
        "idle_timeout_seconds": ctx.settings.session_idle_seconds,
    })


routes = [
    Route("/api/me", me),
    Route("/api/session/sign-out", sign_out, methods=["POST"]),
    Route("/api/session/refresh", refresh, methods=["POST"]),
    Route("/api/channels", list_channels),
    Route("/api/channels/direct", open_direct, methods=["POST"]),
    Route("/api/channels/group", create_group, methods=["POST"]),
    Route("/api/channels/{channel_id:int}/messages", history),
    Route("/api/messages/{message_id:int}/revisions", revisions),
    Route("/api/channels/{channel_id:int}/pins", pins),
    Route("/api/channels/{channel_id:int}/mute", mute, methods=["PUT"]),
    Route("/api/messages/{message_id:int}/readers", readers),
    Route("/api/search/messages", search_messages),
    Route("/api/users", search_users),
    Route("/api/departments", departments),
]
