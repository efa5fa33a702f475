"""Development-only routes (demo and tests). Refused unless dev sessions are allowed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.auth.dev import ensure_dev_sessions_allowed, mint_dev_session
from chat.auth.dpop import access_token_hash
from chat.errors import BadRequest
from chat.store.uow import TxMode, unit_of_work
from chat.web.auth import app_context, proof_of, request_url, set_session_cookie
from chat.web.errors import read_json_object


def _client_host(request: Request) -> str | None:
    return request.client.host if request.client else None


async def dev_session(request: Request) -> JSONResponse:
    """A demo session. With a DPoP proof it is bound to the proving key and travels as
    the HttpOnly cookie, like a passkey sign-in; without one, an unbound token (tests)."""
    ctx = app_context(request)
    ensure_dev_sessions_allowed(ctx, _client_host(request))
    header = proof_of(request)
    proof = None
    if header is not None:
        proof = await ctx.require_proofs().verify(
            header, method=request.method, url=request_url(request), now=ctx.clock.now())
    body = await read_json_object(request)
    staff_number = body.get("staff_number")
    if not isinstance(staff_number, str) or not staff_number:
        raise BadRequest("staff_number must be a non-empty string")
    token, user_id = await mint_dev_session(ctx, staff_number=staff_number,
                                            client_host=_client_host(request),
                                            jkt=proof.jkt if proof else None)
    if proof is None:
        return JSONResponse({"token": token, "user_id": user_id})
    response = JSONResponse({"ath": access_token_hash(token), "user_id": user_id,
                             "idle_timeout_seconds": ctx.settings.session_idle_seconds})
    set_session_cookie(response, ctx, token)
    return response


async def dev_users(request: Request) -> JSONResponse:
    """The people one may sign in as in the demo."""
    ctx = app_context(request)
    ensure_dev_sessions_allowed(ctx, _client_host(request))
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        rows = await uow.users.search_directory("", limit=100)
    return JSONResponse({"users": [
        {"staff_number": u.staff_number, "name": u.name, "role": u.role,
         "department": d.name if d else None} for u, d in rows]})


routes = [
    Route("/dev/session", dev_session, methods=["POST"]),
    Route("/dev/users", dev_users),
]
