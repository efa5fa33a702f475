"""``GET /api/broadcast/targets``, thin: whom a broadcaster's phone may send an urgent
broadcast to (everyone, or a building/floor group). Sending is the card route
(``POST /api/cards/broadcast``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions.broadcast import broadcast_targets
from chat.web.auth import app_context, require_principal


async def targets(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    return JSONResponse(await broadcast_targets(app_context(request), actor=actor))


routes = [
    Route("/api/broadcast/targets", targets),
]
