"""The callback flow of missed-call notices and phone memos, thin (docs/pbx.md §7):
``POST /api/notices/{message_id}/claim`` (「対応します」) and ``…/done``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions import notices as notice_actions
from chat.web.auth import app_context, require_principal


async def claim_notice(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    message = await notice_actions.claim_notice(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"]))
    return JSONResponse({"message": message})


async def finish_notice(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    message = await notice_actions.finish_notice(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"]))
    return JSONResponse({"message": message})



routes = [
    Route("/api/notices/{message_id:int}/claim", claim_notice, methods=["POST"]),
    Route("/api/notices/{message_id:int}/done", finish_notice, methods=["POST"]),
]
