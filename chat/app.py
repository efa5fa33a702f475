"""The composition root: ``create_app(settings)`` and its lifespan.

The lifespan opens the database, the bus and the hub, and hands them to every request
and websocket as state. There are no module-level engines or singletons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from chat.actions.audit import make_checkpoint
from chat.actions.channels import current_memberships
from chat.auth.dpop import MemoryReplayCache, ReplayCache
from chat.auth.policy import PolicySource
from chat.auth.proofs import ProofService
from chat.bus import open_bus
from chat.config import Settings
from chat.context import AppContext
from chat.errors import ChatError
from chat.hub import Hub
from chat.secrets import InstanceSecrets
from chat.store.db import Database
from chat.store.uow import unit_of_work
from chat.types import JSON, Clock, SystemClock
from chat.web import api, dev, pages, passkeys
from chat.web.auth import DpopNonceHeaders
from chat.web.errors import chat_error_handler, http_error_handler, server_error_handler
from chat.web.headers import SecurityHeaders
from chat.web.ratelimit import ClientRateLimiter
from chat.web.ws import websocket_endpoint

log = logging.getLogger(__name__)

# How far back each revocation sweep looks: commit delay and clock skew between writers.
REVOCATION_LOOKBACK = timedelta(seconds=5)


class State(TypedDict):
    ctx: AppContext
    hub: Hub
    auth_limiter: ClientRateLimiter


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


async def _checkpoint_forever(ctx: AppContext) -> None:
    """Sign the audit chain's head periodically (only when it moved)."""
    while True:
        await asyncio.sleep(ctx.settings.audit_checkpoint_seconds)
        try:
            await make_checkpoint(ctx)
        except Exception:
            log.exception("audit checkpoint failed")


def open_replay_cache(bus_url: str) -> tuple[ReplayCache, Callable[[], Awaitable[None]]]:
    """The DPoP/WebAuthn replay store: Redis (shared by every node) beside a Redis bus,
    in memory for a single node."""
    if bus_url.startswith(("redis://", "rediss://")):
        import redis.asyncio as aioredis

        from chat.auth.dpop import RedisReplayCache

        client = aioredis.from_url(bus_url)
        return RedisReplayCache(client), client.aclose

    async def nothing() -> None:
        return None

    return MemoryReplayCache(), nothing


def create_app(settings: Settings, *, clock: Clock | None = None) -> Starlette:
    """Build the ASGI app. Nothing is opened until the lifespan starts."""
    settings.validate()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        db = Database(settings.database_url)
        bus = open_bus(settings.bus_url)
        await bus.start()
        secrets = InstanceSecrets.load_or_create(settings.var_dir)
        the_clock = clock or SystemClock()
        replay, close_replay = open_replay_cache(settings.bus_url)
        ctx = AppContext(settings=settings, db=db, bus=bus, clock=the_clock, secrets=secrets,
                         proofs=ProofService(settings, secrets, replay),
                         policy=PolicySource(db, the_clock, enabled=settings.off_hours_policy))
        async def memberships(user_ids: Sequence[int]) -> dict[int, dict[int, JSON] | None]:
            return await current_memberships(ctx, user_ids)

        async def revocations(since: datetime | None
                              ) -> tuple[list[tuple[int, str | None]], datetime]:
            now = the_clock.now()
            start = (since or now) - REVOCATION_LOOKBACK
            async with unit_of_work(db, write=False) as uow:
                return await uow.sessions.revoked_since(start), now

        hub = Hub(bus, node_id=settings.node_id, memberships=memberships,
                  reconcile_seconds=settings.membership_reconcile_seconds,
                  revocations=revocations)
        await hub.start()
        checkpoints = asyncio.create_task(_checkpoint_forever(ctx), name="audit-checkpoints")
        try:
            yield {"ctx": ctx, "hub": hub,
                   "auth_limiter": ClientRateLimiter(
                       the_clock, per_minute=settings.sign_in_attempts_per_minute,
                       burst=settings.sign_in_burst)}
        finally:
            checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checkpoints
            await hub.stop()
            await bus.close()
            await close_replay()
            await db.dispose()

    routes = [
        Route("/healthz", health),
        WebSocketRoute("/ws", websocket_endpoint),
        *api.routes,
        *passkeys.routes,
        *dev.routes,
        *pages.routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(SecurityHeaders), Middleware(DpopNonceHeaders)],
        exception_handlers={
            ChatError: chat_error_handler,
            HTTPException: http_error_handler,
            Exception: server_error_handler,
        },
    )
