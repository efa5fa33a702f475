"""A protocol client that validates every frame it receives against the server frame
schema, a client whose app froze (for backpressure tests), and posting as a person."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from chat.frames import validate_server_frame
from tests.support.servers import FRAME_TIMEOUT, RunningServer
from tests.support.sessions import dev_token


class ProtocolError(AssertionError):
    pass


OPEN_CLIENTS: list[ChatClient] = []


async def close_open_clients() -> None:
    """Close every client a test opened (the test may have closed some already)."""
    while OPEN_CLIENTS:
        client = OPEN_CLIENTS.pop()
        try:
            await asyncio.wait_for(client.ws.close(), 2)
        except Exception:
            client.ws.transport.abort()


class ChatClient:
    """A websocket client that validates every frame and lets a test wait for the next
    frame matching a predicate (frames skipped on the way are kept for later waits)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.backlog: list[dict[str, Any]] = []
        self.ready: dict[str, Any] | None = None

    @classmethod
    async def connect(cls, server: RunningServer, token: str | None = None,
                      **kwargs: Any) -> ChatClient:
        ws = await websockets.connect(server.ws_url, open_timeout=FRAME_TIMEOUT, **kwargs)
        client = cls(ws)
        OPEN_CLIENTS.append(client)
        if token is not None:
            await client.send({"type": "auth", "token": token})
            client.ready = await client.expect("ready")
        return client

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame, ensure_ascii=False))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def _recv(self, timeout: float) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame = json.loads(raw)
        validate_server_frame(frame)
        return frame

    async def expect(self, type_: str, where: Callable[[dict[str, Any]], bool] | None = None,
                     *, timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The first frame (backlog first) of ``type_`` that satisfies ``where``."""
        def matches(f: dict[str, Any]) -> bool:
            return f["type"] == type_ and (where is None or where(f))

        for i, frame in enumerate(self.backlog):
            if matches(frame):
                return self.backlog.pop(i)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise ProtocolError(f"no {type_} frame within {timeout}s; "
                                    f"backlog: {self.backlog[-5:]}")
            try:
                frame = await self._recv(remaining)
            except TimeoutError:
                continue
            if matches(frame):
                return frame
            self.backlog.append(frame)

    async def expect_any(self, where: Callable[[dict[str, Any]], bool], *,
                         timeout: float = FRAME_TIMEOUT) -> dict[str, Any]:
        """The first frame of any type (backlog first) that satisfies ``where``."""
        for i, frame in enumerate(self.backlog):
            if where(frame):
                return self.backlog.pop(i)
        deadline = asyncio.get_running_loop().time() + timeout
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                frame = await self._recv(remaining)
            except TimeoutError:
                break
            if where(frame):
                return frame
            self.backlog.append(frame)
        raise ProtocolError(f"no matching frame within {timeout}s; "
                            f"backlog: {self.backlog[-5:]}")

    async def expect_nothing(self, type_: str,
                             where: Callable[[dict[str, Any]], bool] | None = None, *,
                             within: float = 0.3) -> None:
        """Assert no frame of ``type_`` (matching ``where``) arrives within ``within`` s."""
        try:
            frame = await self.expect(type_, where, timeout=within)
        except ProtocolError:
            return
        raise ProtocolError(f"unexpected {type_} frame: {frame}")

    async def send_message(self, channel_id: int, body: str,
                           client_id: str | None = None) -> dict[str, Any]:
        client_id = client_id or uuid.uuid4().hex
        await self.send({"type": "send", "channel_id": channel_id, "client_id": client_id,
                         "body": body})
        return await self.expect("ack", lambda f: f["client_id"] == client_id)

    async def close(self) -> None:
        await self.ws.close()


class StalledClient(asyncio.Protocol):
    """A phone whose app froze: it authenticates, then stops reading. Its socket's
    receive buffer is small, so TCP backpressure soon reaches the server. ``resume``
    reads what waited and how the server ended the connection."""

    def __init__(self, ws_url: str) -> None:
        self.proto = ClientProtocol(parse_uri(ws_url))
        self.transport: asyncio.Transport | None = None
        self.texts: asyncio.Queue[str] = asyncio.Queue()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(cls, server: RunningServer, token: str) -> StalledClient:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", server.port))
        _, client = await loop.create_connection(lambda: cls(server.ws_url), sock=sock)
        client.proto.send_request(client.proto.connect())
        client._flush()
        assert json.loads(await client.next_text())["type"] == "hello"
        client.proto.send_text(json.dumps({"type": "auth", "token": token}).encode())
        client._flush()
        while json.loads(await client.next_text())["type"] != "ready":
            pass
        assert client.transport is not None
        client.transport.pause_reading()
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.texts.put_nowait(bytes(event.data).decode())
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)

    def _flush(self) -> None:
        assert self.transport is not None
        for chunk in self.proto.data_to_send():
            if chunk:
                self.transport.write(chunk)

    async def next_text(self) -> str:
        return await asyncio.wait_for(self.texts.get(), FRAME_TIMEOUT)

    async def resume(self) -> tuple[list[dict[str, Any]], int | None]:
        """Read again until the server's close: the frames that had waited (validated)
        and the close code (None if the TCP connection was cut without one)."""
        assert self.transport is not None
        self.transport.resume_reading()
        await asyncio.wait_for(self.lost, FRAME_TIMEOUT)
        frames = []
        while not self.texts.empty():
            frame = json.loads(self.texts.get_nowait())
            validate_server_frame(frame)
            frames.append(frame)
        rcvd = self.proto.close_rcvd
        return frames, rcvd.code if rcvd else None

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def department_channel(client: ChatClient) -> int:
    assert client.ready is not None
    return int(next(c["id"] for c in client.ready["channels"] if c["kind"] == "department"))


async def post(server: RunningServer, staff: str, bodies: list[str],
               channel: int | None = None) -> tuple[int, list[int]]:
    """Send ``bodies`` as ``staff`` (to their department channel unless ``channel``);
    returns the channel and the message ids."""
    client = await ChatClient.connect(server, await dev_token(server, staff))
    channel_id = channel or await department_channel(client)
    ids = [(await client.send_message(channel_id, body))["message"]["id"] for body in bodies]
    await client.close()
    return channel_id, ids
