"""Enrollment and sign-in: the passkey ceremonies, each ending in a DPoP-proven request.

``/auth/enroll/*`` registers a phone from a one-time code; ``/auth/signin*`` signs in
with a passkey and binds the new session to the device key that signed the request
(docs/security.md has the contract).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chat.actions import devices as device_actions
from chat.auth.dpop import VerifiedProof, access_token_hash
from chat.domain.dates import wire_time
from chat.web.auth import app_context, client_host, proof_of, request_url, set_session_cookie
from chat.web.errors import read_json_object
from chat.web.ratelimit import ClientRateLimiter

MAX_CEREMONY_BODY = 64 * 1024


def _limit(request: Request) -> None:
    limiter: ClientRateLimiter = request.state.auth_limiter
    limiter.check(client_host(request))


async def _device_proof(request: Request) -> VerifiedProof:
    """The proof of possession of the (new or enrolled) device key: no session yet, so
    no ``ath``; the nonce and the replay store still apply."""
    ctx = app_context(request)
    return await ctx.require_proofs().verify(
        proof_of(request), method=request.method, url=request_url(request),
        now=ctx.clock.now())


async def nonce(request: Request) -> JSONResponse:
    """A fresh nonce (also on every response's DPoP-Nonce header)."""
    ctx = app_context(request)
    return JSONResponse({"nonce": ctx.require_proofs().nonce(ctx.clock.now())})


async def enroll_options(request: Request) -> JSONResponse:
    _limit(request)
    body = await read_json_object(request)
    options = await device_actions.enrollment_options(
        app_context(request), code=body.get("code"), remote=client_host(request))
    return JSONResponse(options)


async def enroll_complete(request: Request) -> JSONResponse:
    _limit(request)
    proof = await _device_proof(request)
    body = await read_json_object(request)
    result = await device_actions.complete_enrollment(
        app_context(request), code=body.get("code"), credential=body.get("credential"),
        proof=proof, user_agent=request.headers.get("user-agent"),
        remote=client_host(request))
    return JSONResponse(result, status_code=201)


async def signin_options(request: Request) -> JSONResponse:
    _limit(request)
    body = await read_json_object(request)
    return JSONResponse(device_actions.signin_options(
        app_context(request), credential_id=body.get("credential_id")))


async def signin(request: Request) -> JSONResponse:
    _limit(request)
    ctx = app_context(request)
    proof = await _device_proof(request)
    body = await read_json_object(request)
    signed_in = await device_actions.sign_in(ctx, credential=body.get("credential"),
                                             proof=proof, remote=client_host(request))
    response = JSONResponse({
        # The hash the proofs carry as ath: the page proves the token it cannot read.
        "ath": access_token_hash(signed_in.token),
        "user": signed_in.user, "device": signed_in.device,
        "expires_at": wire_time(signed_in.expires_at),
        "idle_expires_at": wire_time(signed_in.idle_expires_at),
        "idle_timeout_seconds": ctx.settings.session_idle_seconds,
    })
    set_session_cookie(response, ctx, signed_in.token)
    return response


routes = [
    Route("/auth/nonce", nonce),
    Route("/auth/enroll/options", enroll_options, methods=["POST"]),
    Route("/auth/enroll/complete", enroll_complete, methods=["POST"]),
    Route("/auth/signin/options", signin_options, methods=["POST"]),
    Route("/auth/signin", signin, methods=["POST"]),
]
