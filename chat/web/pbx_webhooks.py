"""PBX webhooks, thin: one handler for every registered format (the registry in
``chat.domain.pbx_formats``), mounted at each format's route (docs/pbx.md §1, §4). It
checks the signature against the format's active secrets, parses the body into the common
event and hands it to ``chat.actions.pbx_ingest``; refusals are remembered for the admin
console. Nothing here names a format.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chat.actions.pbx_ingest import IngestOutcome, ingest_event
from chat.actions.pbx_secrets import signing_keys
from chat.domain.pbx_formats.events import InvalidEventField
from chat.domain.pbx_formats.registry import (
    PbxFormat,
    SignatureRejected,
    WebhookDelivery,
    formats,
)
from chat.errors import BodyTooLarge, InvalidEvent
from chat.web.auth import app_context, client_host, request_url
from chat.web.errors import MAX_JSON_BODY, error_response

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
        self._counts: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        """Every refusal since the node started, by code (chat.metrics exports it)."""
        return dict(self._counts)

    def record(self, request: Request, code: str, reason: str) -> None:
        self._counts[code] = self._counts.get(code, 0) + 1
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


def _answer(outcome: IngestOutcome) -> JSONResponse:
    return JSONResponse({"status": outcome.status, "event_id": outcome.event_id,
                         "call_state": outcome.call_state},
                        status_code=202 if outcome.status == "ignored" else 200)


def public_request_url(request: Request) -> str:
    """The URL the sender requested (Twilio signs it): the public one. With
    ``CHAT_PUBLIC_URL`` set, its scheme, host and path prefix replace this node's view (a
    TLS-terminating proxy in front); otherwise the request's own URL, whose scheme and host
    uvicorn takes from the proxy headers it trusts (``CHAT_FORWARDED_ALLOW_IPS``). The
    query string is part of what Twilio signs."""
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


async def receive_delivery(request: Request, pbx_format: PbxFormat) -> Response:
    """One delivery in ``pbx_format``: 401 ``invalid_signature`` unless an active secret
    of its kind signed it, 400 ``invalid_event`` naming the field when the signed body is
    malformed, otherwise the ingest outcome (202 for an event type we do not know)."""
    ctx = app_context(request)
    now = ctx.clock.now()
    delivery = WebhookDelivery(headers=request.headers, body=await _raw_body(request),
                               url=public_request_url(request), received_at=now)
    keys = await signing_keys(ctx, pbx_format.name)
    try:
        secret_name = pbx_format.verify(
            keys, delivery, now=now.timestamp(),
            tolerance=ctx.settings.pbx_timestamp_tolerance_seconds)
    except SignatureRejected as error:
        return _refused(request, error)
    try:
        event = pbx_format.parse(delivery, country_code=ctx.settings.pbx_country_code)
    except InvalidEventField as error:
        raise InvalidEvent(error.field, error.message) from None
    # parse() refused a body that is not UTF-8: the text is what the event log keeps.
    return _answer(await ingest_event(
        ctx, source=pbx_format.source, delivery_id=pbx_format.delivery_id(delivery),
        secret_name=secret_name, event=event, payload=delivery.body.decode("utf-8")))


def _endpoint(pbx_format: PbxFormat) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await receive_delivery(request, pbx_format)
        except InvalidEvent as error:
            # A signed but invalid event is remembered, then answered as usual (400).
            if (rejections := _rejections(request)) is not None:
                rejections.record(request, error.code, error.message)
            raise

    endpoint.__name__ = f"{pbx_format.name}_webhook"
    return endpoint


routes = [Route(pbx_format.route, _endpoint(pbx_format), methods=["POST"])
          for pbx_format in formats()]
