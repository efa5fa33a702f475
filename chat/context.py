"""What every action needs: storage, the bus, time, settings and secrets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chat.bus import Bus, open_bus
from chat.config import Settings
from chat.groupcommit import GroupCommit
from chat.metrics import Metrics
from chat.secrets import InstanceSecrets
from chat.store.db import Database
from chat.store.outbox import DatabaseOutbox
from chat.throttle import Throttle
from chat.types import Clock, SystemClock

if TYPE_CHECKING:
    from chat.auth.policy import PolicySource
    from chat.auth.proofs import ProofService
    from chat.webpush import WebPush


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    bus: Bus
    clock: Clock
    secrets: InstanceSecrets
    # Set by a serving node's lifespan; absent in the CLI, which checks no proofs.
    proofs: ProofService | None = None
    policy: PolicySource | None = None
    # Web Push delivery; absent beside a node (the CLI sends no pushes).
    push: WebPush | None = None
    # Group commits of this context's writes, by purpose (chat.groupcommit), each made by
    # the action that owns it on first use.
    group_commits: dict[str, GroupCommit[Any, Any]] = field(
        default_factory=dict, compare=False, repr=False)
    # Throttled after-commit jobs of this node, by purpose (chat.throttle), each made by
    # the action that owns it on first use (a roll call's live tally).
    throttles: dict[str, Throttle] = field(default_factory=dict, compare=False, repr=False)
    # This node's Prometheus instruments (chat.metrics); a context beside a node has its
    # own, which nobody scrapes.
    metrics: Metrics = field(default_factory=Metrics, compare=False, repr=False)

    async def writes_settled(self) -> None:
        """Wait for every queued group-commit write (before the database closes)."""
        for queue in list(self.group_commits.values()):
            await queue.idle()
        for throttle in list(self.throttles.values()):   # runs due later are dropped
            throttle.close()
            await throttle.idle()

    def require_proofs(self) -> ProofService:
        if self.proofs is None:
            raise RuntimeError("this context checks no DPoP proofs (not a serving node)")
        return self.proofs


@asynccontextmanager
async def open_context(settings: Settings, *,
                       clock: Clock | None = None) -> AsyncIterator[AppContext]:
    """An AppContext beside (not inside) a serving node: the CLI, the demo seed, tests.
    It opens the configured database and bus and checks no proofs."""
    db = Database(settings.database_url)
    # On memory:// what is published here reaches the nodes through the database.
    bus = open_bus(settings.bus_url, prefix=settings.bus_prefix, outbox=DatabaseOutbox(db))
    await bus.start()
    ctx = AppContext(settings=settings, db=db, bus=bus, clock=clock or SystemClock(),
                     secrets=InstanceSecrets.load_or_create(settings.var_dir))
    try:
        yield ctx
    finally:
        await ctx.writes_settled()
        await bus.close()
        await db.dispose()
