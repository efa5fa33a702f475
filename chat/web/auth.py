"""Who is calling an HTTP endpoint, and the DPoP plumbing every response carries.

A session travels as the ``tsunagu_session`` cookie (browsers: HttpOnly, the page never
sees it) or as ``Authorization: DPoP <token>`` (scripts); either way the request carries
a ``DPoP`` proof header signed by the session's device key (RFC 9449 §7.1). Since a
cross-site form cannot add that header, cookie-riding CSRF gets nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.audit.record import audit
from chat.auth.dpop import parse_dpop_header
from chat.auth.sessions import SESSION_COOKIE, Presented, Principal, authenticate
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.errors import RoleRequired, Unauthenticated


def app_context(request: HTTPConnection) -> AppContext:
    ctx: AppContext = request.state.ctx
    return ctx


def client_host(connection: HTTPConnection) -> str | None:
    return connection.client.host if connection.client else None


def request_url(connection: HTTPConnection) -> str:
    """The URL the client addressed, as a proof's ``htu`` names it: the scheme (ws or
    wss for websockets), the Host header, and the raw, still percent-encoded path.
    Behind a TLS-terminating proxy, run uvicorn with ``--proxy-headers`` so the scheme
    is the public one."""
    scope = connection.scope
    scheme = connection.url.scheme
    host = connection.headers.get("host") or connection.url.netloc
    raw_path = scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else scope["path"]
    return f"{scheme}://{host}{path}"


def proof_of(connection: HTTPConnection) -> str | None:
    """The single ``DPoP`` header, None when absent (several are refused)."""
    values = connection.headers.getlist("dpop")
    return parse_dpop_header(values) if values else None


def presented(request: Request) -> Presented | None:
    """The session token a request carries and how, or None for no credentials."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if header:
        kind = scheme.lower()
        if kind not in {"dpop", "bearer"} or not token:
            raise Unauthenticated("Use Authorization: DPoP <token>")
    else:
        kind, token = "cookie", request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
    return Presented(token=token, scheme=kind, proof=proof_of(request),
                     method=request.method, url=request_url(request),
                     remote=client_host(request))


async def require_principal(request: Request, *, touch: bool = True,
                            policy: bool = True) -> Principal:
    credentials = presented(request)
    if credentials is None:
        raise Unauthenticated()
    return await authenticate(app_context(request), credentials, touch=touch, policy=policy)


async def require_role(request: Request, allowed: Collection[str], *,
                       what: str) -> Principal:
    """The principal, if their role is in ``allowed``; otherwise the refusal is audited
    and answered 403 ``role_required`` (separation of duties)."""
    actor = await require_principal(request)
    if actor.role in allowed:
        return actor
    await audit(app_context(request), AuditAction.ACCESS_REFUSED, outcome="refused",
                actor_user_id=actor.user_id, session_id=actor.session_id,
                device_id=actor.device_id, remote=client_host(request), role=actor.role,
                what=what, method=request.method, path=request.url.path)
    raise RoleRequired(f"Your role ({actor.role}) may not {what}", role=actor.role,
                       allowed=tuple(sorted(allowed)))


def set_session_cookie(response: Response, ctx: AppContext, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=ctx.settings.session_ttl_seconds,
                        path="/", secure=ctx.settings.secure_cookies, httponly=True,
                        samesite="strict")


def clear_session_cookie(response: Response, ctx: AppContext) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=ctx.settings.secure_cookies,
                           httponly=True, samesite="strict")


# Paths whose responses carry a fresh nonce: everything that takes proofs (the admin
# console's pages are fetched with proofs too).
NONCE_PREFIXES = ("/api/", "/auth/", "/dev/", "/admin")


class DpopNonceHeaders:
    """Every API response carries a fresh ``DPoP-Nonce`` (RFC 9449 §8.2), is uncacheable,
    and exposes the DPoP headers to scripts (§7.1, §8). Pure ASGI; websockets pass."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine: a websocket goes straight through (see SecurityHeaders).
        if scope["type"] != "http" or not scope["path"].startswith(NONCE_PREFIXES):
            return self.app(scope, receive, send)
        return self._with_nonce(scope, receive, send)

    async def _with_nonce(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        ctx: AppContext | None = state.get("ctx")

        async def send_with_nonce(message: Message) -> None:
            if message["type"] == "http.response.start" and ctx and ctx.proofs:
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"dpop-nonce"]
                # no-store unless the route chose its own (photos: "private, no-store").
                if not any(k.lower() == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                headers += [
                    (b"dpop-nonce", ctx.proofs.nonce(ctx.clock.now()).encode()),
                    (b"access-control-expose-headers", b"DPoP-Nonce, WWW-Authenticate"),
                ]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_nonce)
