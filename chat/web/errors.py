"""Every HTTP error is JSON: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import json
import logging
import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from chat.auth.dpop_base import DpopError
from chat.errors import BodyTooLarge, ChatError, MalformedJson, StorageUnavailable
from chat.store.faults import storage_fault

log = logging.getLogger(__name__)

_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
               404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
               415: "unsupported_media_type", 429: "rate_limited"}

MAX_JSON_BODY = 64 * 1024


def error_response(status: int, code: str, message: str, *,
                   details: dict[str, str | int] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **(details or {})}},
                        status_code=status, headers=headers)


async def chat_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChatError)
    return error_response(exc.http_status, exc.code, exc.message, details=exc.details(),
                          headers=challenge_headers(exc) or retry_headers(exc))


def retry_headers(exc: ChatError) -> dict[str, str] | None:
    """RFC 9110 §10.2.3: a 503 says when to come back (whole seconds, rounded up)."""
    if not isinstance(exc, StorageUnavailable):
        return None
    return {"Retry-After": str(max(1, math.ceil(exc.retry_after_ms / 1000)))}


def challenge_headers(exc: ChatError) -> dict[str, str] | None:
    """RFC 9449 §7.1: a 401 names the DPoP scheme (and, when a token or proof was sent
    but failed, the error), so clients know to sign; §9 pairs use_dpop_nonce with a
    fresh DPoP-Nonce, which the DPoP middleware adds to every response."""
    if exc.http_status != 401:
        return None
    if isinstance(exc, DpopError) or exc.code == "invalid_token":
        value = f'DPoP error="{exc.code}", algs="ES256"'
    else:
        value = 'DPoP algs="ES256"'
    return {"WWW-Authenticate": value}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    fault = storage_fault(exc)
    if fault is not None:   # the store unavailable for now: 503, come back later
        log.warning("storage unavailable on %s %s: %s", request.method, request.url.path,
                    exc)
        return await chat_error_handler(request, fault)
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "Internal error")


# Ids and counts are stored in 64-bit columns: a larger integer anywhere in a body is
# refused here, once, instead of overflowing the database driver (a 500) in whichever
# handler passes it on; so is a string with a lone surrogate. Found by the OpenAPI fuzz.
_INT64 = 2**63


def _int64(text: str) -> int:
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise MalformedJson("Integers in the body must fit in 64 bits")
    return value


async def read_json_object(request: Request) -> dict[str, object]:
    """The request body as a JSON object, or a clear 400/413."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise BodyTooLarge(f"The body exceeds {MAX_JSON_BODY} bytes")
    try:
        value = json.loads(body, parse_int=_int64)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise MalformedJson() from None
    if not isinstance(value, dict):
        raise MalformedJson("The body must be a JSON object")
    try:
        # JSON may escape a lone surrogate ("\ud800"), which no database can store.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedJson("The body has text that is not valid Unicode") from None
    return value
