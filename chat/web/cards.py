"""``POST /api/cards/{kind}``, thin: a person posts a card of any kind an action module
registered (``chat/actions/card_entries.py``); ``POST /api/memos`` is the memo's older
address for the same thing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions.card_entries import load_card_entries, poster_for
from chat.domain.kinds import MessageKind
from chat.web.auth import app_context, require_principal
from chat.web.errors import read_json_object

load_card_entries()


async def post_card(request: Request) -> JSONResponse:
    return await _post(request, request.path_params["kind"])


async def post_memo(request: Request) -> JSONResponse:
    return await _post(request, MessageKind.MEMO)


async def _post(request: Request, kind: str) -> JSONResponse:
    actor = await require_principal(request)
    poster = poster_for(kind)
    body = await read_json_object(request)
    message = await poster(app_context(request), actor, body)
    return JSONResponse({"message": message}, status_code=201)


routes = [
    Route("/api/cards/{kind}", post_card, methods=["POST"]),
    Route("/api/memos", post_memo, methods=["POST"]),
]
