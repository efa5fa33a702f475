"""Urgent broadcasts over HTTP, thin: ``GET /api/broadcast/targets`` (whom a
broadcaster's phone may send one to: everyone, or a building/floor group) and
``GET /api/broadcast/unconfirmed`` (what a phone opens full screen when it connects).
Sending is the card route (``POST /api/cards/broadcast``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions.broadcast import broadcast_targets, unconfirmed_broadcasts
from chat.web.auth import app_context, require_principal


async def targets(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse(await broadcast_targets(app_context(request), actor=actor))


async def unconfirmed(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse(await unconfirmed_broadcasts(app_context(request), actor=actor))


routes = [
    Route("/api/broadcast/targets", targets),
    Route("/api/broadcast/unconfirmed", unconfirmed),
]
