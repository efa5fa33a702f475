"""The in-process bus across processes: a CLI beside a node reaches the node's clients.

On the embedded default (``memory://``) each process has a bus of its own, so what a
``tsunagu`` command published used to reach nobody: its effect showed only at the
node's next sweep (a membership change after up to 30 s). Here the process beside a node
also writes what it publishes to a table (``bus_outbox``), and each serving node reads
the rows newer than the last it saw every :data:`POLL_SECONDS` and publishes them on its
own bus. With Redis (``redis://``) every process already publishes there and this module
is not used (:func:`chat.bus.open_bus` decides).

Why a table polled rather than something pushed: the database is the one thing the CLI
and the node are sure to share (no port, no socket file, no second process to run), it
works the same on SQLite and PostgreSQL, and the poll is one indexed range read
(``id > last``), which finds nothing almost always. A row is written after the
action's own commit, like any publish: a CLI killed between the two loses the event and
the node's sweeps still converge on the database (the bus stays lossy by contract).

The rows are kept :data:`KEEP_SECONDS` (pruned by the writers), long enough for a node
that could not read its database for a while to catch up, short enough to stay small.
The storage itself is behind :class:`Outbox` (``chat.store.outbox``): this layer does not
import the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from chat.bus import BATCH_LIMIT, GAP
from chat.bus.memory import MemoryBus

log = logging.getLogger(__name__)

#: How often a serving node looks for rows written beside it.
POLL_SECONDS = 0.25
#: How long rows are kept.
KEEP_SECONDS = 3600.0


class Outbox(Protocol):
    """Where events published beside a node wait for it (``chat.store.outbox``)."""

    async def append(self, events: Sequence[tuple[str, str]]) -> None:
        """Write ``(topic, data)`` pairs, in order, in one transaction (and prune rows
        older than :data:`KEEP_SECONDS`)."""
        ...

    async def last_id(self) -> int:
        """The newest row's id (0 when there is none)."""
        ...

    async def after(self, last_id: int, limit: int) -> list[tuple[int, str, str]]:
        """Up to ``limit`` rows ``(id, topic, data)`` newer than ``last_id``, oldest first."""
        ...


class OutboxWriterBus(MemoryBus):
    """The bus of a process beside a node (the CLI, the demo seed): it publishes in
    process, as before, and writes every event to the outbox for the nodes.

    The rows are written by one task at a time, in publish order, each write taking all
    that was published meanwhile: an import that moves 2,000 people publishes thousands
    of events one by one, which become a few transactions, not thousands.
    :meth:`close` waits for the last write (the CLI closes its bus before it exits)."""

    def __init__(self, outbox: Outbox) -> None:
        super().__init__()
        self._outbox = outbox
        self._pending: list[tuple[str, str]] = []
        self._writer: asyncio.Task[None] | None = None

    async def publish(self, topic: str, data: str) -> None:
        await self.publish_many([(topic, data)])

    async def publish_many(self, events: Sequence[tuple[str, str]]) -> None:
        for topic, data in events:
            await super().publish(topic, data)
        self._pending.extend(events)
        if self._pending and (self._writer is None or self._writer.done()):
            self._writer = asyncio.create_task(self._write(), name="bus-outbox-writer")

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._outbox.append(batch)
            except Exception:
                # Like a publish lost on any bus: the nodes' sweeps converge anyway.
                log.exception("could not write %d events to the bus outbox", len(batch))

    async def flushed(self) -> None:
        """Wait until everything published so far is in the outbox."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def close(self) -> None:
        await self.flushed()
        await super().close()


class OutboxRelayBus(MemoryBus):
    """The bus of a serving node on ``memory://``: in process, plus what processes
    beside it wrote to the outbox since the node started, republished here."""

    def __init__(self, outbox: Outbox, *, poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self._outbox = outbox
        self._poll_seconds = poll_seconds
        self._last = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Only what is written from now on: older rows were for an earlier run. Fails
        # loudly (an unmigrated database) rather than on the first poll.
        self._last = await self._outbox.last_id()
        self._task = asyncio.create_task(self._relay(), name="bus-outbox-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        await super().close()

    async def poll(self) -> int:
        """Republish every row newer than the last seen; how many there were."""
        total = 0
        while True:
            rows = await self._outbox.after(self._last, BATCH_LIMIT)
            for row_id, topic, data in rows:
                await super().publish(topic, data)
                self._last = row_id
            total += len(rows)
            if len(rows) < BATCH_LIMIT:
                return total

    async def _relay(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self.poll()
            except Exception:
                if not failing:
                    log.exception("cannot read the bus outbox; retrying")
                failing = True
                continue
            if failing:
                # Rows stay for KEEP_SECONDS, so nothing was missed unless the outage
                # was longer; the clients resync anyway, as after any loss.
                log.warning("bus outbox readable again")
                await super().publish(GAP, "")
                failing = False
