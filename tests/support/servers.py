"""A real uvicorn server on a loopback port, its database (a fresh PostgreSQL database or
a SQLite file per test), the ``tsunagu`` CLI run against it, and direct SQL on it."""

from __future__ import annotations

import asyncio
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

import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import make_url

from chat.app import create_app
from chat.config import Settings
from chat.context import open_context
from chat.demo import seed_demo
from chat.runtime import uvicorn_options
from chat.store.db import Database
from chat.store.migrations import upgrade

POSTGRES_URL = os.environ.get("CHAT_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("CHAT_TEST_REDIS_URL")
# How long a test waits for a frame, a connect or an HTTP answer.
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
    # The options `tsunagu serve` uses (protocols, timeouts, trusted proxies).
    config = uvicorn.Config(create_app(settings, **app_kwargs), log_level="warning",
                            lifespan="on", **uvicorn_options(settings))
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


REPO_ROOT = Path(__file__).resolve().parents[2]


async def run_tsunagu(server: RunningServer | None, *args: str,
                      bus_url: str | None = None,
                      stdin: str | None = None,
                      env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``tsunagu`` CLI in a subprocess against ``server``'s database and bus
    (``bus_url`` overrides the bus; ``stdin`` is piped in; ``env`` adds to or overrides
    the environment, e.g. a ``PATH``), off the event loop."""
    environment = dict(os.environ)
    if server is not None:
        environment.update(CHAT_DATABASE_URL=server.settings.database_url,
                           CHAT_BUS_URL=bus_url or server.settings.bus_url,
                           CHAT_BUS_PREFIX=server.settings.bus_prefix,
                           CHAT_VAR_DIR=str(server.settings.var_dir),
                           CHAT_PORT=str(server.port))
    environment.update(env or {})
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "chat.cli", *args], cwd=REPO_ROOT,
        env=environment,
        input=stdin, capture_output=True, text=True, timeout=120, check=False)



@dataclass
class ServedNode:
    """A real ``tsunagu serve`` process on a loopback port: what a real SIGTERM does to
    a node is seen only in a process of its own (uvicorn's signal handlers)."""

    settings: Settings
    process: subprocess.Popen[str]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.settings.port}/ws"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=15)


def serve_process(settings: Settings, *, ready_within: float = 30.0,
                  **env_overrides: str) -> ServedNode:
    """Start ``tsunagu serve`` on ``settings``' database, bus and var dir (already
    prepared) on a free loopback port, with dev sessions; return once it answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, CHAT_DATABASE_URL=settings.database_url,
               CHAT_BUS_URL=settings.bus_url, CHAT_BUS_PREFIX=settings.bus_prefix,
               CHAT_VAR_DIR=str(settings.var_dir), CHAT_HOST="127.0.0.1",
               CHAT_PORT=str(port), CHAT_DEV_SESSIONS="1", CHAT_OFF_HOURS_POLICY="off",
               **env_overrides)
    process = subprocess.Popen([sys.executable, "-m", "chat.cli", "serve"], cwd=REPO_ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    node = ServedNode(settings.with_overrides(port=port), process)
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tsunagu serve exited: {process.communicate()[0]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return node
        except OSError:
            time.sleep(0.05)            # a process starting: nothing to await but its port
    node.stop()
    raise AssertionError("tsunagu serve did not start")


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
