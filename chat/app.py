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
from datetime import datetime
from typing import TypedDict

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from admin.routes import routes as console_routes
from admin.tasks import ConsoleState
from chat.actions.audit import make_checkpoint
from chat.actions.broadcast import repeat_due_broadcasts
from chat.actions.call_presence import expire_call_presence
from chat.actions.channels import current_memberships
from chat.actions.exports import sweep_exports
from chat.actions.message_search import index_search_backlog
from chat.actions.nodes import forget_this_node, heartbeat
from chat.actions.retention import run_retention
from chat.auth.policy import PolicySource
from chat.auth.proofs import ProofService
from chat.auth.replay import MemoryReplayCache, ReplayCache
from chat.bus import open_bus
from chat.config import Settings
from chat.context import AppContext
from chat.domain.map_layer import tile_origin
from chat.errors import ChatError
from chat.hub import Hub
from chat.metrics import Metrics, Readings
from chat.periodic import every
from chat.readiness import SchemaCheck
from chat.secrets import InstanceSecrets
from chat.store.db import ConnectionSetup, Database, DatabaseTimeouts
from chat.store.outbox import DatabaseOutbox
from chat.store.sessions import revoked_since
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON, Clock, SystemClock
from chat.web import (
    admin,
    api,
    attachments,
    dev,
    openapi,
    pages,
    passkeys,
    pbx_webhooks,
    records,
)
from chat.web import broadcast as broadcast_web
from chat.web import cards as cards_web
from chat.web import disaster as disaster_web
from chat.web import notices as notices_web
from chat.web import push as push_web
from chat.web import reports as reports_web
from chat.web import rollcalls as rollcalls_web
from chat.web.admission import UnauthenticatedSockets
from chat.web.auth import DpopNonceHeaders
from chat.web.errors import chat_error_handler, http_error_handler, server_error_handler
from chat.web.headers import SecurityHeaders
from chat.web.monitoring import ResponseClasses, readyz, serve_metrics
from chat.web.ratelimit import ClientRateLimiter
from chat.web.slow_clients import client_disconnected
from chat.web.ws import websocket_endpoint
from chat.webpush import WebPush

log = logging.getLogger(__name__)

class State(TypedDict):
    ctx: AppContext
    hub: Hub
    auth_limiter: ClientRateLimiter
    unauthenticated: UnauthenticatedSockets
    export_tasks: records.ExportTasks
    console: ConsoleState
    pbx_rejections: pbx_webhooks.PbxRejections
    schema_check: SchemaCheck


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



async def _scheduled_retention(ctx: AppContext) -> None:
    """The retention purge; nodes running at once share the work batch by batch."""
    report = await run_retention(ctx, by=f"scheduler:{ctx.settings.node_id}")
    log.info("%s", report.summary())


# How often a node looks for exports abandoned by a node that stopped, and removes the
# partial files of its own failed ones.
EXPORT_SWEEP_SECONDS = 30.0

# How often a node indexes what other writers left noted for search (SQLite).
SEARCH_BACKLOG_SECONDS = 30.0


async def _scheduled_search_backlog(ctx: AppContext) -> None:
    indexed = await index_search_backlog(ctx)
    if indexed:
        log.info("indexed %d messages other writers had left noted for search", indexed)


def _background_jobs(ctx: AppContext, hub: Hub) -> list[asyncio.Task[None]]:
    """Each node's periodic work: tell the others it is alive, sign the audit head (when
    it moved), clear call states whose end event never came (the state is in the
    database, so any node may), fail the exports a stopped node abandoned, purge what
    retention says (off when the interval is 0), on SQLite index what other writers
    left noted for search, and repeat urgent broadcasts to who has not confirmed."""
    settings = ctx.settings
    started_at = ctx.clock.now()

    def beat() -> Awaitable[None]:
        return heartbeat(ctx, connections=len(hub.connections), bus_ok=hub.healthy,
                         started_at=started_at)

    jobs: list[tuple[str, float, Callable[[], Awaitable[object]]]] = [
        ("node heartbeat", settings.node_heartbeat_seconds, beat),
        ("audit checkpoint", settings.audit_checkpoint_seconds, lambda: make_checkpoint(ctx)),
        ("call presence sweep", settings.pbx_sweep_seconds,
         lambda: expire_call_presence(ctx)),
        ("export sweep", EXPORT_SWEEP_SECONDS, lambda: sweep_exports(ctx)),
        ("broadcast repeats", settings.broadcast_sweep_seconds,
         lambda: repeat_due_broadcasts(ctx)),
    ]
    if settings.retention_interval_seconds > 0:
        jobs.append(("retention run", settings.retention_interval_seconds,
                     lambda: _scheduled_retention(ctx)))
    if ctx.db.dialect == "sqlite":
        jobs.append(("search index backlog", SEARCH_BACKLOG_SECONDS,
                     lambda: _scheduled_search_backlog(ctx)))
    return [asyncio.create_task(every(seconds, job, what), name=what)
            for what, seconds, job in jobs]


def open_replay_cache(bus_url: str) -> tuple[ReplayCache, Callable[[], Awaitable[None]]]:
    """The DPoP/WebAuthn replay store: Redis (shared by every node) beside a Redis bus,
    in memory for a single node."""
    if bus_url.startswith(("redis://", "rediss://")):
        import redis.asyncio as aioredis

        from chat.auth.replay import RedisReplayCache

        client = aioredis.from_url(bus_url)
        return RedisReplayCache(client), client.aclose

    async def nothing() -> None:
        return None

    return MemoryReplayCache(), nothing


def _watch(metrics: Metrics, ctx: AppContext, hub: Hub,
           unauthenticated: UnauthenticatedSockets, push: WebPush,
           rejections: pbx_webhooks.PbxRejections) -> None:
    """What the node's scrape reads live (chat.metrics), and the checkpoint's age."""
    bus = ctx.bus
    metrics.read_from(Readings(
        authenticated_sockets=lambda: len(hub.connections),
        unauthenticated_sockets=lambda: unauthenticated.count,
        push_deliveries=lambda: {"ok": push.deliveries_ok, "failed": push.deliveries_failed,
                                 "refused_ssrf": push.refused_ssrf},
        webhook_refusals=rejections.counts,
        bus_reconnects=lambda: int(getattr(bus, "reconnects", 0)),
        bus_lost_publishes=lambda: int(getattr(bus, "lost_events", 0))))

    async def checkpoint_age() -> None:
        async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
            last = await uow.audit.last_checkpoint()
            head = await uow.audit.head()
        if last is None:
            metrics.audit_checkpoint = None
            return
        # A chained checkpoint at entry S is followed by its own entry, S + 1.
        signed_up_to = last.seq + (1 if last.number is not None else 0)
        unsigned = max(0, (head.seq if head is not None else 0) - signed_up_to)
        age = (ctx.clock.now() - last.signed_at).total_seconds()
        metrics.audit_checkpoint = (max(0.0, age), unsigned)

    metrics.refresh_with(checkpoint_age)


def create_app(settings: Settings, *, clock: Clock | None = None,
               connection_setup: ConnectionSetup | None = None) -> Starlette:
    """Build the ASGI app. Nothing is opened until the lifespan starts.

    ``connection_setup`` runs on each database connection as it is handed out
    (:class:`chat.store.db.Database`): the fault tests set SQLite's ``max_page_count``
    there, so the node's own connections meet a real SQLITE_FULL."""
    settings.validate()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        db = Database(settings.database_url, metrics=metrics,
                      connection_setup=connection_setup,
                      timeouts=DatabaseTimeouts(
                          statement_seconds=settings.db_statement_timeout_seconds,
                          lock_seconds=settings.db_lock_timeout_seconds,
                          pool_seconds=settings.db_pool_timeout_seconds,
                          bulk_statement_seconds=settings.db_bulk_statement_timeout_seconds))
        # On memory:// this node also relays what the CLI beside it published.
        bus = open_bus(settings.bus_url, prefix=settings.bus_prefix,
                       outbox=DatabaseOutbox(db), serving=True)
        await bus.start()
        secrets = InstanceSecrets.load_or_create(settings.var_dir)
        the_clock = clock or SystemClock()
        replay, close_replay = open_replay_cache(settings.bus_url)
        push = WebPush(settings, secrets)
        ctx = AppContext(settings=settings, db=db, bus=bus, clock=the_clock, secrets=secrets,
                         proofs=ProofService(settings, secrets, replay),
                         policy=PolicySource(db, the_clock, enabled=settings.off_hours_policy),
                         push=push, metrics=metrics)
        async def memberships(user_ids: Sequence[int]) -> dict[int, dict[int, JSON] | None]:
            return await current_memberships(ctx, user_ids)

        async def revocations(start: datetime) -> list[tuple[int, str | None]]:
            return await revoked_since(db, start)

        hub = Hub(bus, node_id=settings.node_id, clock=the_clock, memberships=memberships,
                  reconcile_seconds=settings.membership_reconcile_seconds,
                  revocations=revocations, metrics=metrics)
        await hub.start()
        try:
            await heartbeat(ctx, connections=0, bus_ok=hub.healthy,
                            started_at=the_clock.now())
        except Exception:
            log.exception("could not record this node's heartbeat")
        background = _background_jobs(ctx, hub)
        export_tasks = records.ExportTasks()
        console = ConsoleState()
        rejections = pbx_webhooks.PbxRejections()
        unauthenticated = UnauthenticatedSockets(per_address=settings.ws_unauth_per_address,
                                                 total=settings.ws_unauth_total)
        _watch(metrics, ctx, hub, unauthenticated, push, rejections)
        stop_metrics: Callable[[], Awaitable[None]] | None = None
        try:
            if settings.metrics_port is not None:
                stop_metrics = await serve_metrics(metrics, host=settings.metrics_host,
                                                   port=settings.metrics_port)
            yield {"ctx": ctx, "hub": hub, "export_tasks": export_tasks, "console": console,
                   "pbx_rejections": rejections,
                   "auth_limiter": ClientRateLimiter(
                       the_clock, per_minute=settings.sign_in_attempts_per_minute,
                       burst=settings.sign_in_burst),
                   "unauthenticated": unauthenticated,
                   "schema_check": SchemaCheck(db)}
        finally:
            if stop_metrics is not None:
                await stop_metrics()
            await ctx.writes_settled()
            await console.close()
            await export_tasks.close()
            await push.close()
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            try:
                await forget_this_node(ctx)
            except Exception:
                log.exception("could not take this node off the health page")
            await hub.stop()
            await bus.close()
            await close_replay()
            await db.dispose()

    routes = [
        Route("/healthz", health),
        Route("/readyz", readyz),
        WebSocketRoute("/ws", websocket_endpoint),
        *api.routes,
        *openapi.routes,
        *attachments.routes,
        *push_web.routes,
        *admin.routes,
        *records.routes,
        *passkeys.routes,
        *dev.routes,
        *pbx_webhooks.routes,
        *notices_web.routes,
        *cards_web.routes,
        *broadcast_web.routes,
        *disaster_web.routes,
        *reports_web.routes,
        *rollcalls_web.routes,
        *console_routes,
        *pages.routes,
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(ResponseClasses, metrics=metrics),
                    Middleware(SecurityHeaders,
                               tile_origin=tile_origin(settings.map_tile_url)),
                    Middleware(DpopNonceHeaders)],
        exception_handlers={
            ChatError: chat_error_handler,
            HTTPException: http_error_handler,
            ClientDisconnect: client_disconnected,
            Exception: server_error_handler,
        },
    )
