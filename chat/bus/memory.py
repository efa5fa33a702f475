"""In-process bus for a single node (the embedded default)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from chat.bus import BATCH_LIMIT, GAP, BusEvent, one_by_one

_CLOSED = BusEvent("bus.closed", "")


class MemoryBus:
    """Each subscription has a bounded queue. When it is full, that event and every later
    one are dropped until the subscriber has drained the queue and received one GAP event
    (so GAP stands exactly where the loss began; the subscriber resyncs from the truth)."""

    def __init__(self, *, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._subscriptions: set[MemorySubscription] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()

    async def publish(self, topic: str, data: str) -> None:
        event = BusEvent(topic, data)
        for subscription in list(self._subscriptions):
            subscription.offer(event)

    async def publish_many(self, events: Sequence[tuple[str, str]]) -> None:
        for topic, data in events:
            await self.publish(topic, data)

    async def subscribe(self) -> MemorySubscription:
        subscription = MemorySubscription(self._queue_size, self._subscriptions.discard)
        self._subscriptions.add(subscription)
        return subscription


class MemorySubscription:
    def __init__(self, size: int, on_close: object) -> None:
        self._queue: asyncio.Queue[BusEvent] = asyncio.Queue(maxsize=size)
        self._lost = False
        self._closed = False
        self._on_close = on_close

    def offer(self, event: BusEvent) -> None:
        if self._closed or self._lost:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._lost = True

    def __aiter__(self) -> AsyncIterator[BusEvent]:
        return one_by_one(self.batches())

    async def batches(self) -> AsyncIterator[list[BusEvent]]:
        queue = self._queue
        while True:
            if self._lost and queue.empty():
                self._lost = False
                yield [BusEvent(GAP, "")]
            event = await queue.get()
            batch: list[BusEvent] = []
            while event is not _CLOSED:
                batch.append(event)
                if len(batch) >= BATCH_LIMIT or queue.empty():
                    break
                event = queue.get_nowait()
            if batch:
                yield batch
            if event is _CLOSED:
                return

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self)  # type: ignore[operator]
        while True:
            try:
                self._queue.put_nowait(_CLOSED)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
