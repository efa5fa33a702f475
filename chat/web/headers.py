"""Security headers on every HTTP response (pure ASGI: websockets pass untouched)."""

from __future__ import annotations

from collections.abc import Awaitable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style anywhere: pages load same-origin modules and stylesheets.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


def content_security_policy(*, tile_origin: str | None = None) -> str:
    """The policy, with the HQ map's tile server (the city's own GIS) among the image
    sources when one is configured. Leaflet positions with CSSOM (``el.style.x = …``),
    which ``style-src 'self'`` allows; it needs no inline style attribute or script."""
    if tile_origin is None:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data: blob:;",
                                           f"img-src 'self' data: blob: {tile_origin};")


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, tile_origin: str | None = None) -> None:
        self.app = app
        self.headers = [(b"content-security-policy",
                         content_security_policy(tile_origin=tile_origin).encode()),
                        *HEADERS[1:]]

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a websocket goes straight through, and no frame of ours stays
        # on the stack of every open connection.
        if scope["type"] != "http":
            return self.app(scope, receive, send)
        return self._http(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
