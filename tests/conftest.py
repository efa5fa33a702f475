"""Fixtures: each integration test gets a fresh database (SQLite, and PostgreSQL +
Redis when CHAT_TEST_POSTGRES_URL / CHAT_TEST_REDIS_URL are set) and a real server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    POSTGRES_URL,
    REDIS_URL,
    RunningServer,
    base_settings,
    close_open_clients,
    create_postgres_database,
    drop_postgres_database,
    prepare_database,
    start_server,
)
from tests.support.push import PushService

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres" and not (POSTGRES_URL and REDIS_URL):
        pytest.skip("set CHAT_TEST_POSTGRES_URL and CHAT_TEST_REDIS_URL for this backend")
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
        return
    assert POSTGRES_URL
    url = create_postgres_database(POSTGRES_URL)
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def bus_url(backend: str) -> str:
    return REDIS_URL if backend == "postgres" and REDIS_URL else "memory://"


ServerFactory = Callable[..., RunningServer]


@pytest.fixture
def make_server(database_url: str, bus_url: str, tmp_path: Path
                ) -> Iterator[ServerFactory]:
    """Start servers on the test's database (several share it, like nodes). The first
    call migrates and seeds the demo city unless ``seed=False``."""
    servers: list[RunningServer] = []
    prepared = False
    # This test's own namespace on the shared Redis: concurrent runs never cross-talk.
    prefix = f"tsunagu-test-{uuid.uuid4().hex[:12]}:"

    def factory(*, seed: bool = True, app_kwargs: dict[str, Any] | None = None,
                **overrides: Any) -> RunningServer:
        nonlocal prepared
        # A node may reach the test's database another way (through a TCP proxy).
        settings = base_settings(overrides.pop("database_url", database_url),
                                 tmp_path / "var",
                                 **{"bus_url": bus_url, "bus_prefix": prefix, **overrides})
        if not prepared:
            prepare_database(settings, seed=seed)
            prepared = True
        server = start_server(settings, **(app_kwargs or {}))
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: ServerFactory) -> RunningServer:
    """One node with the demo city seeded."""
    return make_server()


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    await close_open_clients()


@pytest.fixture
def push_service() -> Iterator[PushService]:
    """A push service (RFC 8030) on a loopback port that decrypts what it is sent."""
    service = PushService()
    yield service
    service.stop()
