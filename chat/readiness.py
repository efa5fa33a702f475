"""Is this node ready for traffic (``/readyz``): the checks, each bounded in time.

``/healthz`` says the process is alive (systemd, a restart policy); ``/readyz`` says a
load balancer may send it requests: the database answers, the bus is reachable, and the
schema is the one this release was written for (a node started before ``tsunagu
migrate`` ran, or after a newer release migrated, must not serve). A check never hangs
the probe: each has :data:`CHECK_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from chat.store.db import Database
from chat.store.migrations import script_heads

CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Readiness:
    """Each check's outcome: ``ok`` or why not."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(outcome == "ok" for outcome in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, outcome in self.checks.items() if outcome != "ok"]


async def bounded(check: Callable[[], Awaitable[str]], *,
                  within: float = CHECK_TIMEOUT_SECONDS) -> str:
    """``check()``'s outcome, or why it failed or took longer than ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            return await check()
    except TimeoutError:
        return f"no answer within {within:g} s"
    except Exception as error:
        return f"failed: {type(error).__name__}: {error}"[:300]


async def database_answers(db: Database) -> str:
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


class SchemaCheck:
    """The database's Alembic revision against this release's head (the scripts are
    read once, off the event loop)."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._heads: tuple[str, ...] | None = None

    async def __call__(self) -> str:
        if self._heads is None:
            self._heads = await asyncio.to_thread(script_heads, self._db.url)
        async with self._db.engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads())
        if set(current) == set(self._heads):
            return "ok"
        return (f"schema at {', '.join(current) or 'nothing'}; this release needs "
                f"{', '.join(self._heads)} (run tsunagu migrate)")


async def bus_reachable(bus_url: str) -> str:
    """Redis answers PING on a connection of its own (the bus's may be retrying); the
    in-process bus always is."""
    if not bus_url.startswith(("redis://", "rediss://")):
        return "ok"
    import redis.asyncio as aioredis

    client = aioredis.from_url(bus_url, socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
                               socket_timeout=CHECK_TIMEOUT_SECONDS)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "ok"


async def check_readiness(db: Database, bus_url: str, schema: SchemaCheck) -> Readiness:
    """Every check at once, each bounded."""
    names = ("database", "schema", "bus")
    outcomes = await asyncio.gather(
        bounded(lambda: database_answers(db)), bounded(schema),
        bounded(lambda: bus_reachable(bus_url)))
    return Readiness(dict(zip(names, outcomes, strict=True)))
