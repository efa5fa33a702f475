"""The composition root: ``create_app(settings)`` and its lifespan.

The lifespan opens the database, the bus and the hub, and hands them to every request
and websocket as state. There are no module-level engines or singletons.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TypedDict

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from chat.actions.channels import current_memberships
from chat.bus import open_bus
from chat.config import Settings
from chat.context import AppContext
from chat.errors import ChatError
from chat.hub import Hub
from chat.secrets import InstanceSecrets
from chat.store.db import Database
from chat.types import JSON, Clock, SystemClock
from chat.web import api, dev, pages
from chat.web.errors import chat_error_handler, http_error_handler, server_error_handler
from chat.web.headers import SecurityHeaders
from chat.web.ws import websocket_endpoint


class State(TypedDict):
    ctx: AppContext
    hub: Hub


async def health(request: Request) -> JSONResponse:
    ctx: AppContext = request.state.ctx
    hub: Hub = request.state.hub
    try:
        async with ctx.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unreachable"
    healthy = database == "ok" and hub.healthy
    return JSONResponse({
        "status": "ok" if healthy else "degraded", "node": ctx.settings.node_id,
        "database": database, "bus": "ok" if hub.healthy else "failed",
        "connections": len(hub.connections),
    }, status_code=200 if healthy else 503)


def create_app(settings: Settings, *, clock: Clock | None = None) -> Starlette:
    """Build the ASGI app. Nothing is opened until the lifespan starts."""
    settings.validate()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        db = Database(settings.database_url)
        bus = open_bus(settings.bus_url)
        await bus.start()
        ctx = AppContext(settings=settings, db=db, bus=bus, clock=clock or SystemClock(),
                         secrets=InstanceSecrets.load_or_create(settings.var_dir))
        async def memberships(user_ids: Sequence[int]) -> dict[int, dict[int, JSON] | None]:
            return await current_memberships(ctx, user_ids)

        hub = Hub(bus, node_id=settings.node_id, memberships=memberships,
                  reconcile_seconds=settings.membership_reconcile_seconds)
        await hub.start()
        try:
            yield {"ctx": ctx, "hub": hub}
        finally:
            await hub.stop()
            await bus.close()
            await db.dispose()

    routes = [
        Route("/healthz", health),
        WebSocketRoute("/ws", websocket_endpoint),
        *api.routes,
        *dev.routes,
        *pages.routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            ChatError: chat_error_handler,
            HTTPException: http_error_handler,
            Exception: server_error_handler,
        },
    )
