"""Declaring and ending a disaster or a drill from the phone, thin (docs/disaster.md):
``GET /api/disaster`` (what is declared now), ``POST /api/disaster`` ({name, drill}) and
``POST /api/disaster/end``. The action checks the role (crisis or admin) and answers
``crisis_only`` (403), ``disaster_active`` / ``no_active_disaster`` (409)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions import disaster as disaster_actions
from chat.auth.sessions import Principal
from chat.domain.roles import DISASTER_DECLARERS
from chat.errors import BadRequest
from chat.web.auth import app_context, require_principal
from chat.web.errors import read_json_object


def _by(actor: Principal) -> str:
    return f"{actor.name} (user {actor.user_id})"[:100]


async def current_disaster(request: Request) -> JSONResponse:
    """The active disaster or drill (null if none), and whether this person may declare."""
    actor = await require_principal(request)
    state = await disaster_actions.current_disaster(app_context(request))
    return JSONResponse({"disaster": disaster_actions.disaster_json(state),
                         "may_declare": actor.role in DISASTER_DECLARERS})


async def declare_disaster(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    name, drill = body.get("name"), body.get("drill", True)
    if not isinstance(name, str):
        raise BadRequest("name must be a string")
    if not isinstance(drill, bool):
        raise BadRequest("drill must be true or false")
    state = await disaster_actions.declare_disaster(
        app_context(request), name=name, drill=drill, by=_by(actor),
        actor_user_id=actor.user_id, actor_role=actor.role)
    return JSONResponse({"disaster": state.wire()}, status_code=201)


async def end_disaster(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    state = await disaster_actions.end_disaster(
        app_context(request), by=_by(actor), actor_user_id=actor.user_id,
        actor_role=actor.role)
    return JSONResponse({"ended": state.wire()})


routes = [
    Route("/api/disaster", current_disaster, methods=["GET"]),
    Route("/api/disaster", declare_disaster, methods=["POST"]),
    Route("/api/disaster/end", end_disaster, methods=["POST"]),
]
