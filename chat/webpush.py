"""Web Push delivery: VAPID (RFC 8292) and aes128gcm encryption (RFC 8291, RFC 8188)
through ``pywebpush``, in background tasks that never hold up the sender.

One :class:`WebPush` per serving node, opened by the lifespan. ``spawn`` runs a delivery
job (``chat.actions.push``) as a tracked task; ``deliver`` sends one message to one
subscription and reports the push service's status, so the caller can forget
subscriptions that are gone (404, 410). A delivery never raises: whatever goes wrong
with one subscription is logged (by the push service's origin, never the capability
URL), counted, and leaves the others alone.

SSRF: an endpoint is a URL a browser handed in, so before each delivery the endpoint is
checked again (``chat.domain.push_endpoints``), and the connection is made by aiohttp
(``pywebpush.webpush_async`` with our session) through :class:`CheckingResolver`: the
name is resolved once, every address is checked, and aiohttp connects to those very
addresses while keeping the name for TLS SNI, certificate checks and ``Host``. A DNS
answer that changes between subscribe and send (rebinding) is thus caught. An address
literal never reaches a resolver, so a client middleware checks each request's URL
(the first one and any redirect). Chosen over a ``requests`` transport adapter because
resolver and middleware are aiohttp's public extension points (an adapter would have
to rewrite URLs to IPs and pass SNI through urllib3 pool internals), and it drops the
worker threads. The session ignores ``HTTP(S)_PROXY`` (a proxy would resolve the name
itself, out of our sight): the node reaches the push services directly.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]
from pywebpush import WebPushException, webpush_async  # type: ignore[import-untyped]

from chat.config import Settings
from chat.domain.push_endpoints import Endpoint, EndpointRefused, check_resolved, parse_endpoint
from chat.secrets import InstanceSecrets

log = logging.getLogger(__name__)

# The order of the P-256 group (SEC 2 §2.4.2): a private scalar lies in [1, n-1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SEND_TIMEOUT = 10.0
RESOLVE_TIMEOUT = 5.0
CONCURRENCY = 8


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_private_key(secrets: InstanceSecrets) -> ec.EllipticCurvePrivateKey:
    """The application server key, derived from the instance secret (so every node of a
    deployment signs with the same key and browsers' subscriptions stay valid)."""
    scalar = int.from_bytes(secrets.vapid_key, "big") % (P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


@dataclass(frozen=True)
class Delivery:
    """Where one push goes: a subscription's endpoint and keys (base64url)."""

    endpoint: str
    p256dh: str
    auth: str


class PushRefused(Exception):
    """Raised inside a delivery when the endpoint, or what its name resolves to, is
    refused (not an OSError, so aiohttp passes it through unwrapped)."""


class CheckingResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses the name unless every
    address is public; aiohttp connects only to the addresses returned here."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        try:
            check_resolved(r["host"] for r in results)
        except EndpointRefused as refused:
            raise PushRefused(str(refused)) from None
        return results

    async def close(self) -> None:
        await self._inner.close()


async def resolve_checked(endpoint: Endpoint) -> bool:
    """At subscribe: does the endpoint's name resolve to public addresses only? Raises
    EndpointRefused when an address is not; False when the name does not resolve now
    (the send-time check decides then)."""
    if endpoint.ip is not None:
        return True
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT):
            infos = await loop.getaddrinfo(endpoint.host, endpoint.port,
                                           type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return False
    check_resolved(str(info[4][0]) for info in infos)
    return True


class WebPush:
    """Delivers pushes and counts how deliveries ended (``deliveries_ok``,
    ``deliveries_failed``, of which ``refused_ssrf`` were refused endpoints): plain
    attributes a metrics exporter can read."""

    def __init__(self, settings: Settings, secrets: InstanceSecrets) -> None:
        self.settings = settings
        key = vapid_private_key(secrets)
        self._vapid = Vapid02(key)
        # RFC 8292 §3.2: the uncompressed point (65 bytes), base64url: the browser's
        # applicationServerKey and the header's ``k``.
        self.public_key = b64url(key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._session: aiohttp.ClientSession | None = None
        self.deliveries_ok = 0
        self.deliveries_failed = 0
        self.refused_ssrf = 0

    def spawn(self, job: Coroutine[Any, Any, None], *, name: str) -> None:
        """Run ``job`` in the background; a failure is logged, never raised."""
        task = asyncio.create_task(job, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("push job %s failed", task.get_name(), exc_info=task.exception())

    async def idle(self) -> None:
        """Wait for the jobs running now (tests, and a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check(self, url: str) -> Endpoint:
        """The endpoint, if this node may connect to it (raises EndpointRefused)."""
        return parse_endpoint(url, allowed_hosts=self.settings.push_allowed_hosts,
                              allow_test_loopback=self.settings.push_allow_http_loopback)

    async def _check_request(self, request: aiohttp.ClientRequest,
                             handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        """Client middleware: every request (a redirect too) goes to a checked URL."""
        try:
            self.check(str(request.url))
        except EndpointRefused as refused:
            raise PushRefused(str(refused)) from None
        return await handler(request)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=CheckingResolver()),
                middlewares=(self._check_request,), trust_env=False)
        return self._session

    async def deliver(self, target: Delivery, payload: str, *, ttl: int,
                      urgency: str) -> int:
        """Send one encrypted push; the push service's HTTP status (201 on success), or
        0 when it could not be reached or the endpoint is refused. Never raises."""
        async with self._slots:
            try:
                status = await self._send(target, payload, ttl, urgency)
            except Exception as exc:  # one bad subscription fails alone
                log.warning("push to %s failed: %s", _origin(target.endpoint),
                            type(exc).__name__)
                status = 0
        if 200 <= status < 300:
            self.deliveries_ok += 1
        else:
            self.deliveries_failed += 1
        return status

    async def _send(self, target: Delivery, payload: str, ttl: int, urgency: str) -> int:
        try:
            self.check(target.endpoint)
        except EndpointRefused as refused:
            self._refused(target, str(refused))
            return 0
        # A fresh claims dict per call: pywebpush fills in aud (the endpoint's origin)
        # and exp (now + 12 h, within RFC 8292 §2's 24 h) by mutating it.
        claims: dict[str, str | int] = {"sub": self.settings.push_contact}
        try:
            response = await webpush_async(
                {"endpoint": target.endpoint,
                 "keys": {"p256dh": target.p256dh, "auth": target.auth}},
                data=payload, vapid_private_key=self._vapid, vapid_claims=claims,
                content_encoding="aes128gcm", ttl=ttl,
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT),
                # RFC 8030 §5.3: how soon the push service should wake the device.
                headers={"Urgency": urgency}, aiohttp_session=self._client())
        except PushRefused as refused:
            self._refused(target, str(refused))
            return 0
        except WebPushException as exc:
            status = getattr(exc.response, "status", 0) or 0
            log.info("push to %s refused: %s", _origin(target.endpoint), status)
            return int(status)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            log.warning("push to %s failed: %s", _origin(target.endpoint),
                        type(exc).__name__)
            return 0
        return int(getattr(response, "status", 0))

    def _refused(self, target: Delivery, why: str) -> None:
        self.refused_ssrf += 1
        log.warning("push to %s refused by the endpoint rules: %s",
                    _origin(target.endpoint), why)


def _origin(endpoint: str) -> str:
    """Logs name the push service, never the subscription's capability URL."""
    scheme, _, rest = endpoint.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}"
