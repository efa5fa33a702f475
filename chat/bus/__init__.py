"""Cross-node pub/sub, treated as lossy.

The bus carries wake-ups and ready-to-send frames ("channel 7 has message seq 42"). The
database is the truth: a client that misses an event resyncs from its last seq. When a
backend knows it lost events (a full queue, a dropped connection) it yields a
:data:`GAP` event so the hub can tell every local client to resync.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chat.bus.topics import GAP as GAP

if TYPE_CHECKING:
    from chat.bus.outbox import Outbox

# At most this many events in one of :meth:`Subscription.batches`' lists: a consumer's
# step stays short, and what it stages per list stays small.
BATCH_LIMIT = 256


@dataclass(frozen=True)
class BusEvent:
    topic: str
    data: str


class Bus(Protocol):
    """The whole interface the hub and actions use. Backends are chosen by URL."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, topic: str, data: str) -> None:
        """Send ``data`` to every listener on every node (best effort)."""
        ...

    async def publish_many(self, events: Sequence[tuple[str, str]]) -> None:
        """Publish ``(topic, data)`` pairs in order, in one round trip where the backend
        allows (a batch of sends)."""
        ...

    async def subscribe(self) -> Subscription:
        """Start receiving. Everything published after this returns is delivered
        (best effort) to the subscription."""
        ...


class Subscription(Protocol):
    """Events from all nodes, this one included, in publish order per publisher.
    Yields a ``GAP`` event when some were lost; iteration ends when the bus closes."""

    def __aiter__(self) -> AsyncIterator[BusEvent]: ...

    def batches(self) -> AsyncIterator[list[BusEvent]]:
        """The same events, each list holding those that had already arrived (at most
        :data:`BATCH_LIMIT`): the hub writes a connection's share of a list with one
        socket write."""
        ...

    async def close(self) -> None: ...


async def one_by_one(batches: AsyncIterator[list[BusEvent]]) -> AsyncIterator[BusEvent]:
    """A subscription's events one at a time, from its :meth:`Subscription.batches`
    (what each backend's ``__aiter__`` returns)."""
    async for batch in batches:
        for event in batch:
            yield event


def open_bus(url: str, *, prefix: str = "tsunagu:", outbox: Outbox | None = None,
             serving: bool = False) -> Bus:
    """Pick a backend from ``CHAT_BUS_URL``; drivers are imported only when used.
    ``prefix`` namespaces the topics on a shared Redis (``CHAT_BUS_PREFIX``).

    The one place that decides how a process beside a node (the CLI: ``serving`` false)
    reaches the nodes' clients. On Redis every process publishes there. On ``memory://``
    with an ``outbox`` (the database's, ``chat.store.outbox``) a process beside a node
    writes what it publishes to the outbox and a serving node relays it from there
    (chat.bus.outbox); without one the bus is this process's alone."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        if outbox is not None:
            from chat.bus.outbox import OutboxRelayBus, OutboxWriterBus

            return OutboxRelayBus(outbox) if serving else OutboxWriterBus(outbox)
        from chat.bus.memory import MemoryBus

        return MemoryBus()
    if scheme in {"redis", "rediss"}:
        from chat.bus.redis import RedisBus

        return RedisBus(url, prefix=prefix, queued=serving)
    raise ValueError(f"unsupported bus URL scheme: {scheme!r}")
