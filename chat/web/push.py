"""Web Push over HTTP (thin): the application server key and this browser's
subscription."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions import push as push_actions
from chat.web.auth import app_context, require_principal
from chat.web.errors import read_json_object


async def public_key(request: Request) -> JSONResponse:
    await require_principal(request)
    return JSONResponse({"public_key": push_actions.public_key(app_context(request))})


async def subscribe(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    result = await push_actions.subscribe(app_context(request), actor=actor,
                                          endpoint=body.get("endpoint"), keys=body.get("keys"))
    return JSONResponse(result, status_code=201)


async def unsubscribe(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    return JSONResponse(await push_actions.unsubscribe(
        app_context(request), actor=actor, endpoint=body.get("endpoint")))


routes = [
    Route("/api/push/key", public_key),
    Route("/api/push/subscriptions", subscribe, methods=["POST"]),
    Route("/api/push/subscriptions", unsubscribe, methods=["DELETE"]),
]
