"""A push service (RFC 8030) on a loopback port and a browser's push subscription, for
tests that check what Web Push delivers (``tests/integration/test_web_push.py``,
``test_broadcast.py``). Servers reach it only with ``push_allow_http_loopback`` (the
SSRF rules refuse loopback otherwise); :func:`push_counts` reads a node's delivery
counters, and :func:`loopback_name` a host name that resolves to loopback from
/etc/hosts (DNS-rebinding tests, without a DNS query)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import http_ece
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chat.webpush import WebPush
from tests.support.servers import RunningServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    name: str
    headers: dict[str, str]
    body: bytes


class PushService:
    """A push service (RFC 8030) on a loopback port: it accepts pushes for the names it
    is told, answers 410 Gone for the ``gone`` and 307 for the ``redirect`` ones, and
    hands every request but a redirected one to the test."""

    def __init__(self) -> None:
        self.received: queue.Queue[Received] = queue.Queue()
        self.gone: set[str] = set()
        self.redirect: dict[str, str] = {}   # name -> where a 307 sends the push
        app = Starlette(routes=[Route("/push/{name}", self._push, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "push service did not start"
            time.sleep(0.02)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _push(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.body()
        if name in self.redirect:
            return Response(status_code=307, headers={"location": self.redirect[name]})
        self.received.put(Received(name, dict(request.headers), body))
        return Response(status_code=410 if name in self.gone else 201)

    async def next(self, timeout: float = 10.0) -> Received:
        return await asyncio.to_thread(self.received.get, True, timeout)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Browser:
    """A browser's push subscription: its ECDH key pair and auth secret (RFC 8291 §3)."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def make(cls, service: PushService, name: str) -> Browser:
        return cls(name, f"{service.origin}/push/{name}",
                   ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    def subscription(self) -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(body, private_key=self.private_key,
                                 auth_secret=self.auth, version="aes128gcm")
        payload: dict[str, Any] = json.loads(plain)
        return payload


def web_push_of(server: RunningServer) -> WebPush:
    """The node's WebPush (its lifespan state), for its counters."""
    push = server.server.lifespan.state["ctx"].push
    assert isinstance(push, WebPush)
    return push


def push_counts(server: RunningServer) -> dict[str, int]:
    push = web_push_of(server)
    return {"ok": push.deliveries_ok, "failed": push.deliveries_failed,
            "refused_ssrf": push.refused_ssrf}


def loopback_name() -> str | None:
    """A name other than localhost that /etc/hosts maps to 127.0.0.0/8 (the machine's
    own name, usually), or None."""
    try:
        lines = Path("/etc/hosts").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0].startswith("127."):
            for name in fields[1:]:
                if "localhost" not in name.lower() and name.replace("-", "").replace(
                        ".", "").isalnum() and not name.replace(".", "").isdigit():
                    return name.lower()
    return None
