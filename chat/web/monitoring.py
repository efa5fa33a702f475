"""What operators watch: ``/readyz``, the Prometheus metrics port, and the count of HTTP
responses by status class.

The metrics are served on a port of their own (``CHAT_METRICS_HOST``:
``CHAT_METRICS_PORT``, loopback by default), never on the public one, so the reverse
proxy cannot reach them. That small server is aiohttp's (already a dependency, for Web
Push), run in the node's own event loop by the lifespan: no thread, and no second
uvicorn, whose signal handling belongs to ``tsunagu serve`` alone.
``prometheus_client.start_http_server`` was not used: it serves the registry from a
thread of its own, where the scrape-time refresh (a database read) cannot await.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.context import AppContext
from chat.metrics import Metrics
from chat.readiness import SchemaCheck, check_readiness

log = logging.getLogger(__name__)

# A scrape waits this long at most for the scrape-time refresh (the checkpoint's age).
REFRESH_TIMEOUT_SECONDS = 2.0


async def readyz(request: Request) -> JSONResponse:
    """200 when the node may take traffic; 503 naming the checks that failed."""
    ctx: AppContext = request.state.ctx
    schema: SchemaCheck = request.state.schema_check
    readiness = await check_readiness(ctx.db, ctx.settings.bus_url, schema)
    body: dict[str, object] = {"status": "ready" if readiness.ready else "not_ready",
                               "node": ctx.settings.node_id, "checks": readiness.checks}
    if not readiness.ready:
        body["failed"] = readiness.failed
    return JSONResponse(body, status_code=200 if readiness.ready else 503,
                        headers={"Cache-Control": "no-store"})


async def serve_metrics(metrics: Metrics, *, host: str, port: int
                        ) -> Callable[[], Awaitable[None]]:
    """Serve ``GET /metrics`` on ``host:port`` until the returned function is awaited.
    Raises OSError when the port cannot be bound (the node does not start)."""

    async def scrape(_request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_SECONDS):
                await metrics.refresh()
        except TimeoutError:
            log.warning("metrics refresh took over %s s; answering with the last values",
                        REFRESH_TIMEOUT_SECONDS)
        response = web.Response(body=metrics.exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("metrics on http://%s:%d/metrics", host, port)
    return runner.cleanup


class ResponseClasses:
    """Counts the public port's HTTP responses by status class (``2xx`` … ``5xx``): one
    counter increment a response. Inside Starlette's error middleware, so a request that
    raised counts as the 500 that middleware answers with."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self._by_class = metrics.http_responses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        by_class = self._by_class
        answered = False

        async def counting(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start" and not answered:
                answered = True
                counter = by_class.get(message["status"] // 100)
                if counter is not None:
                    counter.inc()
            await send(message)

        try:
            await self.app(scope, receive, counting)
        except Exception:
            if not answered:
                by_class[5].inc()
            raise
