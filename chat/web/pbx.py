"""PBX webhooks and the notice endpoints, thin: check the signature, parse, hand to the
actions (docs/pbx.md).

- ``POST /pbx/events``: the native JSON format, signed per Standard Webhooks.
- ``POST /pbx/twilio/status``: Twilio Voice status callbacks, ``X-Twilio-Signature``.
- ``POST /api/notices/{message_id}/claim`` and ``…/done``: the callback flow.
- ``POST /api/memos``: an operator's phone memo (伝言メモ).
"""

from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat.actions import memos as memo_actions
from chat.actions import notices as notice_actions
from chat.actions import pbx as pbx_actions
from chat.actions.pbx import IngestOutcome
from chat.domain.pbx_formats import (
    InvalidEventField,
    parse_native,
    parse_twilio,
    twilio_delivery_id,
)
from chat.domain.webhooks import SignatureRejected, verify_standard, verify_twilio
from chat.errors import BadRequest, BodyTooLarge, InvalidEvent
from chat.web.auth import app_context, client_host, request_url, require_principal
from chat.web.errors import MAX_JSON_BODY, error_response, read_json_object

log = logging.getLogger(__name__)


async def _raw_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise BodyTooLarge(f"The body exceeds {MAX_JSON_BODY} bytes")
    return body


@dataclass(frozen=True)
class PbxRejection:
    at: datetime
    path: str
    remote: str | None
    code: str
    reason: str


class PbxRejections:
    """The last webhook requests this node refused, and why (the admin console shows
    them). In memory and bounded: refusals come from unauthenticated senders, so they
    are never written to the database, where a flood would cost storage and audit-chain
    locks."""

    def __init__(self, *, keep: int = 200) -> None:
        self._recent: deque[PbxRejection] = deque(maxlen=keep)

    def record(self, request: Request, code: str, reason: str) -> None:
        self._recent.append(PbxRejection(
            at=app_context(request).clock.now(), path=request.url.path,
            remote=client_host(request), code=code, reason=reason[:300]))

    def recent(self) -> list[PbxRejection]:
        """Newest first."""
        return list(reversed(self._recent))


def _rejections(request: Request) -> PbxRejections | None:
    return getattr(request.state, "pbx_rejections", None)


def _refused(request: Request, error: SignatureRejected) -> Response:
    # No WWW-Authenticate: a PBX does not answer a challenge, it fixes its secret.
    log.warning("PBX webhook refused from %s: %s", client_host(request), error)
    if (rejections := _rejections(request)) is not None:
        rejections.record(request, "invalid_signature", str(error))
    return error_response(401, "invalid_signature", str(error))


async def _remembering_invalid(request: Request, handler: Callable[[Request], Awaitable[
        Response]]) -> Response:
    """Run a webhook handler; a signed but invalid event is remembered, then answered as
    usual (400 ``invalid_event``)."""
    try:
        return await handler(request)
    except InvalidEvent as error:
        if (rejections := _rejections(request)) is not None:
            rejections.record(request, error.code, error.message)
        raise


def _answer(outcome: IngestOutcome) -> JSONResponse:
    return JSONResponse({"status": outcome.status, "event_id": outcome.event_id,
                         "call_state": outcome.call_state},
                        status_code=202 if outcome.status == "ignored" else 200)


async def native_events(request: Request) -> Response:
    return await _remembering_invalid(request, _native_events)


async def _native_events(request: Request) -> Response:
    ctx = app_context(request)
    body = await _raw_body(request)
    keys = await pbx_actions.signing_keys(ctx, pbx_actions.KIND_STANDARD)
    msg_id = request.headers.get("webhook-id")
    try:
        secret_name = verify_standard(
            keys, msg_id=msg_id, timestamp=request.headers.get("webhook-timestamp"),
            signature=request.headers.get("webhook-signature"), body=body,
            now=ctx.clock.now().timestamp(),
            tolerance=ctx.settings.pbx_timestamp_tolerance_seconds)
    except SignatureRejected as error:
        return _refused(request, error)
    assert msg_id is not None
    try:
        text = body.decode("utf-8")
        payload = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidEvent("body", "The body is not UTF-8 JSON") from None
    try:
        event = parse_native(payload, country_code=ctx.settings.pbx_country_code)
    except InvalidEventField as error:
        raise InvalidEvent(error.field, error.message) from None
    return _answer(await pbx_actions.ingest_event(
        ctx, source=pbx_actions.SOURCE_NATIVE, delivery_id=msg_id, secret_name=secret_name,
        event=event, payload=text))


def twilio_url(request: Request) -> str:
    """The URL Twilio signed: the public one it called. With ``CHAT_PUBLIC_URL`` set, its
    scheme, host and path prefix replace this node's view (a TLS-terminating proxy in
    front); otherwise the request's own URL, whose scheme and host uvicorn takes from
    the proxy headers it trusts (``CHAT_FORWARDED_ALLOW_IPS``). The query string is part
    of what Twilio signs."""
    settings = app_context(request).settings
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else request.url.path
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}{path}"
    else:
        url = request_url(request)
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


async def twilio_status(request: Request) -> Response:
    return await _remembering_invalid(request, _twilio_status)


async def _twilio_status(request: Request) -> Response:
    ctx = app_context(request)
    body = await _raw_body(request)
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError):
        pairs = None
    keys = await pbx_actions.signing_keys(ctx, pbx_actions.KIND_TWILIO)
    try:
        secret_name = verify_twilio(keys, url=twilio_url(request), params=pairs or [],
                                    signature=request.headers.get("x-twilio-signature"))
    except SignatureRejected as error:
        return _refused(request, error)
    if pairs is None:
        raise InvalidEvent("body", "The body is not a UTF-8 form (application/"
                                   "x-www-form-urlencoded)")
    try:
        event = parse_twilio(pairs, country_code=ctx.settings.pbx_country_code,
                             received_at=ctx.clock.now())
    except InvalidEventField as error:
        raise InvalidEvent(error.field, error.message) from None
    # Twilio sends no delivery id it signs; the call, status and sequence number are
    # signed and identify one callback (a retry repeats them).
    return _answer(await pbx_actions.ingest_event(
        ctx, source=pbx_actions.SOURCE_TWILIO, delivery_id=twilio_delivery_id(dict(pairs)),
        secret_name=secret_name, event=event, payload=text))


async def claim_notice(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    message = await notice_actions.claim_notice(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"]))
    return JSONResponse({"message": message})


async def finish_notice(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    message = await notice_actions.finish_notice(
        app_context(request), actor=actor, message_id=int(request.path_params["message_id"]))
    return JSONResponse({"message": message})


def _text(body: dict[str, object], name: str) -> str:
    value = body.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string")
    return value


async def create_memo(request: Request) -> JSONResponse:
    actor = await require_principal(request)
    body = await read_json_object(request)
    for_user_id = body.get("for_user_id")
    if for_user_id is not None and (not isinstance(for_user_id, int)
                                    or isinstance(for_user_id, bool)):
        raise BadRequest("for_user_id must be an integer")
    extension = body.get("extension")
    if extension is not None and not isinstance(extension, str):
        raise BadRequest("extension must be a string")
    message = await memo_actions.record_memo(app_context(request), actor=actor,
                                             memo=memo_actions.MemoIn(
        caller_name=_text(body, "caller_name"), company=_text(body, "company"),
        number=_text(body, "number"), action=_text(body, "action"),
        text=_text(body, "text"), for_user_id=for_user_id, extension=extension))
    return JSONResponse({"message": message}, status_code=201)


routes = [
    Route("/pbx/events", native_events, methods=["POST"]),
    Route("/pbx/twilio/status", twilio_status, methods=["POST"]),
    Route("/api/notices/{message_id:int}/claim", claim_notice, methods=["POST"]),
    Route("/api/notices/{message_id:int}/done", finish_notice, methods=["POST"]),
    Route("/api/memos", create_memo, methods=["POST"]),
]
