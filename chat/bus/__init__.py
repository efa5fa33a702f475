"""Cross-node pub/sub, treated as lossy.

The bus carries wake-ups and ready-to-send frames ("channel 7 has message seq 42"). The
database is the truth: a client that misses an event resyncs from its last seq. When a
backend knows it lost events (a full queue, a dropped connection) it yields a
:data:`GAP` event so the hub can tell every local client to resync.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from chat.bus.topics import GAP as GAP

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


def open_bus(url: str, *, prefix: str = "tsunagu:") -> Bus:
    """Pick a backend from ``CHAT_BUS_URL``; drivers are imported only when used.
    ``prefix`` namespaces the topics on a shared Redis (``CHAT_BUS_PREFIX``)."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        from chat.bus.memory import MemoryBus

        return MemoryBus()
    if scheme in {"redis", "rediss"}:
        from chat.bus.redis import RedisBus

        return RedisBus(url, prefix=prefix)
    raise ValueError(f"unsupported bus URL scheme: {scheme!r}")
