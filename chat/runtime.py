"""Process-wide settings for a long-running server node (``tsunagu serve``)."""

from __future__ import annotations

import gc
from typing import Any

from chat.config import Settings


def settle_garbage_collector() -> None:
    """Once the app is built: collect, then freeze what exists (modules, the ORM's
    mappers and compiled metadata, settings), so no later collection walks it again.

    A full collection walks every tracked object and stops the event loop meanwhile; in
    the benchmark's server they took 20-190 ms. What start-up made lives as long as the
    process, so it is moved out of the collector's sight (full collections then took
    20-110 ms: the connections' own objects remain). Cyclic garbage made afterwards is
    still collected on CPython's usual thresholds; raising the young one was tried and
    dropped (docs/performance.md, scenario a)."""
    gc.collect()
    gc.freeze()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The ``uvicorn.Config`` options every node (and the tests' servers) run with: our
    websocket protocol (chat.web.transport), the h11 protocol with deadlines for slow
    clients (chat.web.slow_clients), and the trusted proxies' forwarded headers
    (``CHAT_FORWARDED_ALLOW_IPS``; without it the peer address is the client's)."""
    from chat.web.slow_clients import http_protocol
    from chat.web.transport import WebSocketProtocol

    return {
        "http": http_protocol(header_timeout=settings.http_header_timeout_seconds,
                              body_timeout=settings.http_body_timeout_seconds),
        "ws": WebSocketProtocol,
        "ws_max_size": settings.transport_max_bytes,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        "proxy_headers": settings.forwarded_allow_ips is not None,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        # On SIGTERM: sockets drain and close 1012 (chat.web.transport), then this bounds
        # the wait before what is left is cancelled and the lifespan shuts down.
        "timeout_graceful_shutdown": settings.shutdown_drain_seconds,
        # No protocol-level pings of uvicorn's (by default one every 20 s to each
        # socket, and its pong read back): the client's own ``ping`` every
        # ``heartbeat_seconds`` and the ``idle_timeout_seconds`` deadline
        # (chat.protocol) already find a dead peer, and keep nginx's read timeout
        # from firing. At 10,000 idle phones uvicorn's pings alone were 500 frames
        # written and 500 read a second (docs/performance.md, scenario h).
        "ws_ping_interval": None,
    }
