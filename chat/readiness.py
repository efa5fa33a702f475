"""Is this node ready for traffic (``/readyz``): the checks, each bounded in time.

``/healthz`` says the process is alive (systemd, a restart policy); ``/readyz`` says a
load balancer may send it requests: the database answers, the bus is reachable, and the
schema is one this release can serve (its own, or a newer one that only expanded it:
docs/upgrade.md; a node started before ``tsunagu migrate`` ran must not serve). A check never hangs
the probe: each has :data:`CHECK_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from chat.store.db import Database
from chat.store.migrations import read_serves_from, schema_fit, script_heads

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
    """The database's Alembic revision against this release's migrations: ready at the
    head, and on a newer schema that still serves this release (a rolling upgrade,
    docs/upgrade.md); the scripts are read off the event loop."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __call__(self) -> str:
        async with self._db.engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads())
            serves_from = await read_serves_from(conn) if current else None
        fit = await asyncio.to_thread(schema_fit, self._db.url, current, serves_from)
        if fit.serves:
            return "ok"
        heads = await asyncio.to_thread(script_heads, self._db.url)
        return (f"schema at {', '.join(current) or 'nothing'} ({fit.value}); this release "
                f"needs {', '.join(heads)} (run this release's tsunagu migrate)")


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
