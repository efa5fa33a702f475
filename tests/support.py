"""Test support: a real uvicorn server on a loopback port, and a protocol client that
validates every frame it receives against the server frame schema."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
import websockets
from sqlalchemy.engine import make_url
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import parse_uri

from chat.app import create_app
from chat.config import Settings
from chat.context import open_context
from chat.demo import seed_demo
from chat.frames import validate_server_frame
from chat.store.db import Database
from chat.store.migrations import upgrade
from chat.web.transport import WebSocketProtocol

POSTGRES_URL = os.environ.get("CHAT_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL")
FRAME_TIMEOUT = 5.0


# --- databases ---------------------------------------------------------------------------

def create_postgres_database(base_url: str) -> str:
    """Create a fresh database beside ``base_url``'s and return its URL."""
    import asyncpg

    name = f"tsunagu_test_{uuid.uuid4().hex[:12]}"
    url = make_url(base_url)

    async def create() -> None:
        conn = await asyncpg.connect(_dsn(url, url.database or "postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 '
                               "ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'")
        finally:
            await conn.close()

    asyncio.run(create())
    return url.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(db_url: str) -> None:
    import asyncpg

    url = make_url(db_url)
    assert url.database and url.database.startswith("tsunagu_test_")

    async def drop() -> None:
        conn = await asyncpg.connect(_dsn(url, "postgres"))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def _dsn(url: Any, database: str) -> str:
    auth = url.username or "postgres"
    if url.password:
        auth += f":{url.password}"
    return f"postgresql://{auth}@{url.host or '127.0.0.1'}:{url.port or 5432}/{database}"


def in_own_thread(fn: Callable[[], Any]) -> Any:
    """Run blocking set-up (which may start its own event loop) off the caller's loop."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout=120)
    if errors:
        raise errors[0]
    return result[0] if result else None


def prepare_database(settings: Settings, *, seed: bool) -> None:
    """Migrate (and optionally seed the demo city) before a server starts."""
    in_own_thread(lambda: _prepare(settings, seed=seed))


def _prepare(settings: Settings, *, seed: bool) -> None:
    upgrade(settings.database_url)
    if seed:
        async def run() -> None:
            async with open_context(beside(settings)) as ctx:
                await seed_demo(ctx)
        asyncio.run(run())


def beside(settings: Settings) -> Settings:
    """A node's settings for set-up code run beside it, on the in-process bus (the
    server's clients are not told; the database is what counts)."""
    return settings.with_overrides(bus_url="memory://")


# --- server ------------------------------------------------------------------------------

@dataclass
class RunningServer:
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.settings.port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "server did not stop"


def start_server(settings: Settings, **app_kwargs: Any) -> RunningServer:
    """Run the app under uvicorn in a thread with its own event loop, on a socket
    bound here (so the port is known before the app is built)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", settings.port))
    settings = settings.with_overrides(port=sock.getsockname()[1])
    config = uvicorn.Config(create_app(settings, **app_kwargs), ws=WebSocketProtocol,
                            ws_max_size=settings.transport_max_bytes,
                            ws_per_message_deflate=False, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    return RunningServer(settings, server, thread)


def base_settings(database_url: str, var_dir: Path, *, bus_url: str = "memory://",
                  **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(database_url=database_url, bus_url=bus_url,
                                  var_dir=var_dir, host="127.0.0.1", port=0,
                                  dev_sessions=True,
                                  # Tests of the policy turn it on with an injected clock.
                                  off_hours_policy=False)
    values.update(overrides)
    return Settings(**values)


# --- clients -----------------------------------------------------------------------------

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


async def dev_token(server: RunningServer, staff_number: str) -> str:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        response = await http.post("/dev/session", json={"staff_number": staff_number})
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class ManualTimer:
    """A :meth:`ManualClock.call_later` waiting for the clock to reach ``due``."""

    def __init__(self, due: float, loop: asyncio.AbstractEventLoop,
                 callback: Callable[[], None]) -> None:
        self.due = due
        self.loop = loop
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.callback()


class ManualClock:
    """An injected clock that moves only when a test says so (thread-safe enough for a
    server thread reading what the test thread wrote). Its timers (``call_later``) run
    when :meth:`advance` reaches them: at once on the caller's own loop, or soon on
    the loop that set them (a server's, in its thread)."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self._now = datetime.now(UTC)
        self._monotonic = 1000.0
        self._timers: list[ManualTimer] = []
        self._lock = threading.Lock()

    def now(self) -> Any:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def call_later(self, delay: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(self._monotonic + delay, asyncio.get_running_loop(), callback)
        with self._lock:
            self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
        with self._lock:
            due = sorted((t for t in self._timers if t.due <= self._monotonic),
                         key=lambda t: t.due)
            self._timers = [t for t in self._timers if t.due > self._monotonic]
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for timer in due:
            if timer.loop is here:
                timer.fire()
            else:
                with contextlib.suppress(RuntimeError):  # that loop has closed
                    timer.loop.call_soon_threadsafe(timer.fire)

    def set(self, moment: Any) -> None:
        """Jump to an aware ``moment`` (monotonic time moves by the same amount)."""
        self.advance((moment - self._now).total_seconds())


REPO_ROOT = Path(__file__).resolve().parents[1]


async def run_tsunagu(server: RunningServer | None, *args: str,
                      bus_url: str | None = None,
                      stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``tsunagu`` CLI in a subprocess against ``server``'s database and bus
    (``bus_url`` overrides the bus; ``stdin`` is piped in), off the event loop."""
    env = dict(os.environ)
    if server is not None:
        env.update(CHAT_DATABASE_URL=server.settings.database_url,
                   CHAT_BUS_URL=bus_url or server.settings.bus_url,
                   CHAT_BUS_PREFIX=server.settings.bus_prefix,
                   CHAT_VAR_DIR=str(server.settings.var_dir),
                   CHAT_PORT=str(server.port))
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "chat.cli", *args], cwd=REPO_ROOT, env=env,
        input=stdin, capture_output=True, text=True, timeout=120, check=False)


# --- device-bound sessions -----------------------------------------------------------------

def enrollment_code(server: RunningServer, staff_number: str, *,
                    ttl_seconds: int | None = None, label: str = "テスト端末") -> str:
    """A one-time enrollment code made by the real action on ``server``'s database (the
    CLI path is tested on its own; this is quicker than a subprocess per test)."""
    from chat.actions.devices import create_enrollment

    async def make() -> str:
        async with open_context(beside(server.settings)) as ctx:
            ticket = await create_enrollment(ctx, staff_number=staff_number, label=label,
                                             created_by="test", ttl_seconds=ttl_seconds)
            return ticket.code

    code: str = in_own_thread(lambda: asyncio.run(make()))
    return code


def device_client(server: RunningServer, key: Any = None, *,
                  authenticator: Any = None, clock: ManualClock | None = None) -> Any:
    """A ``chat.client.TsunaguClient`` for ``server`` with a fresh software device key
    and passkey authenticator (WebAuthn needs the localhost origin, not 127.0.0.1)."""
    from chat.client import DeviceKey, SoftwareAuthenticator, TsunaguClient

    origin = f"http://localhost:{server.port}"
    return TsunaguClient(server.http_url, key or DeviceKey.generate(),
                         authenticator=authenticator or SoftwareAuthenticator("localhost",
                                                                              origin),
                         origin=origin, ws_url=server.ws_url,
                         clock=(lambda: clock.now().timestamp()) if clock else time.time)


def sql(server: RunningServer, statement: str, **params: Any) -> list[Any]:
    """Run SQL directly against the server's database, as an intruder with database
    access would (no application code in the way)."""
    async def run() -> list[Any]:
        db = Database(server.settings.database_url)
        try:
            async with db.engine.begin() as conn:
                result = await conn.execute(sa.text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await db.dispose()

    rows: list[Any] = in_own_thread(lambda: asyncio.run(run()))
    return rows
