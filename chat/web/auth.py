"""Who is calling an HTTP endpoint."""

from __future__ import annotations

from starlette.requests import Request

from chat.auth.sessions import Principal, authenticate
from chat.context import AppContext
from chat.errors import Unauthenticated


def app_context(request: Request) -> AppContext:
    ctx: AppContext = request.state.ctx
    return ctx


async def require_principal(request: Request) -> Principal:
    """The principal of ``Authorization: Bearer <session token>``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated()
    return await authenticate(app_context(request), token.strip())
