"""Web Push delivery: VAPID (RFC 8292) and aes128gcm encryption (RFC 8291, RFC 8188)
through ``pywebpush``, in background tasks that never hold up the sender.

One :class:`WebPush` per serving node, opened by the lifespan. ``spawn`` runs a delivery
job (``chat.actions.push``) as a tracked task; ``deliver`` sends one message to one
subscription in a worker thread (pywebpush is synchronous) and reports the push
service's status, so the caller can forget subscriptions that are gone (404, 410).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]
from pywebpush import WebPushException, webpush  # type: ignore[import-untyped]

from chat.config import Settings
from chat.secrets import InstanceSecrets

log = logging.getLogger(__name__)

# The order of the P-256 group (SEC 2 §2.4.2): a private scalar lies in [1, n-1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SEND_TIMEOUT = 10.0
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


class WebPush:
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

    async def deliver(self, target: Delivery, payload: str, *, ttl: int,
                      urgency: str) -> int:
        """Send one encrypted push; the push service's HTTP status (201 on success), or
        0 when it could not be reached."""
        async with self._slots:
            return await asyncio.to_thread(self._send, target, payload, ttl, urgency)

    def _send(self, target: Delivery, payload: str, ttl: int, urgency: str) -> int:
        # A fresh claims dict per call: pywebpush fills in aud (the endpoint's origin)
        # and exp (now + 12 h, within RFC 8292 §2's 24 h) by mutating it.
        claims: dict[str, str | int] = {"sub": self.settings.push_contact}
        try:
            response = webpush(
                {"endpoint": target.endpoint,
                 "keys": {"p256dh": target.p256dh, "auth": target.auth}},
                data=payload, vapid_private_key=self._vapid, vapid_claims=claims,
                content_encoding="aes128gcm", ttl=ttl, timeout=SEND_TIMEOUT,
                # RFC 8030 §5.3: how soon the push service should wake the device.
                headers={"Urgency": urgency})
        except WebPushException as exc:
            status = getattr(exc.response, "status_code", 0) or 0
            log.info("push to %s refused: %s", _origin(target.endpoint), status)
            return int(status)
        except (requests.RequestException, ValueError) as exc:
            log.warning("push to %s failed: %s", _origin(target.endpoint), exc)
            return 0
        return int(getattr(response, "status_code", 0))


def _origin(endpoint: str) -> str:
    """Logs name the push service, never the subscription's capability URL."""
    scheme, _, rest = endpoint.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
