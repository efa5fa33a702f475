"""The Bus contract (chat/bus/__init__.py), run against each backend that needs no server.

The Redis backend needs a server and belongs with the integration tests; add a factory to
``BACKENDS`` here to run this same suite against another in-process backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat.bus import BATCH_LIMIT, GAP, Bus, BusEvent, Subscription, open_bus
from chat.bus.memory import MemoryBus
from chat.bus.topics import channel_topic

WAIT = 2.0

BACKENDS: dict[str, Callable[..., Any]] = {"memory": MemoryBus}


@pytest.fixture(params=sorted(BACKENDS))
def make_bus(request: pytest.FixtureRequest) -> Callable[..., Bus]:
    factory: Callable[..., Bus] = BACKENDS[request.param]
    return factory


@pytest.fixture
async def bus(make_bus: Callable[..., Bus]) -> AsyncIterator[Bus]:
    bus = make_bus()
    await bus.start()
    yield bus
    await bus.close()


class Reader:
    """One subscription read through a single iterator, the way the hub reads it."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self._events = aiter(subscription)

    async def take(self, count: int) -> list[BusEvent]:
        async with asyncio.timeout(WAIT):
            return [await anext(self._events) for _ in range(count)]

    async def rest(self) -> list[BusEvent]:
        """Everything until iteration ends (which must happen within WAIT)."""
        async with asyncio.timeout(WAIT):
            return [event async for event in self._events]


async def subscribe(bus: Bus) -> Reader:
    return Reader(await bus.subscribe())


def event(n: int) -> BusEvent:
    return BusEvent(channel_topic(n % 3), f'{{"n": {n}}}')


async def test_a_subscriber_receives_events_in_publish_order(bus: Bus) -> None:
    reader = await subscribe(bus)
    for n in range(20):
        await bus.publish(event(n).topic, event(n).data)
    assert await reader.take(20) == [event(n) for n in range(20)]


async def test_every_subscriber_receives_every_event(bus: Bus) -> None:
    first, second = await subscribe(bus), await subscribe(bus)
    for n in range(3):
        await bus.publish(event(n).topic, event(n).data)
    expected = [event(0), event(1), event(2)]
    assert await first.take(3) == expected
    assert await second.take(3) == expected


async def test_events_published_before_subscribing_are_not_delivered(bus: Bus) -> None:
    await bus.publish(channel_topic(1), "early")
    reader = await subscribe(bus)
    await bus.publish(channel_topic(1), "late")
    assert await reader.take(1) == [BusEvent(channel_topic(1), "late")]


async def test_japanese_payloads_arrive_unchanged(bus: Bus) -> None:
    reader = await subscribe(bus)
    await bus.publish(channel_topic(1), '{"body":"本日の窓口は17時までです"}')
    [received] = await reader.take(1)
    assert received.data == '{"body":"本日の窓口は17時までです"}'


async def test_closing_the_bus_ends_iteration(bus: Bus) -> None:
    reader = await subscribe(bus)
    await bus.publish(channel_topic(1), "before close")
    everything = asyncio.create_task(reader.rest())
    await asyncio.sleep(0)
    await bus.close()
    assert await everything == [BusEvent(channel_topic(1), "before close")]


async def test_closing_a_subscription_ends_its_iteration_only(bus: Bus) -> None:
    closing, staying = await subscribe(bus), await subscribe(bus)
    await closing.subscription.close()
    await closing.subscription.close()  # twice is harmless
    assert await closing.rest() == []
    await bus.publish(channel_topic(1), "after close")
    assert await staying.take(1) == [BusEvent(channel_topic(1), "after close")]


async def test_events_already_waiting_come_in_one_batch_in_publish_order(bus: Bus) -> None:
    subscription = await bus.subscribe()
    batches = aiter(subscription.batches())
    for n in range(5):  # nobody reads in between
        await bus.publish(event(n).topic, event(n).data)
    async with asyncio.timeout(WAIT):
        assert await anext(batches) == [event(n) for n in range(5)]
        await bus.publish(event(5).topic, event(5).data)
        assert await anext(batches) == [event(5)]
    await subscription.close()


async def test_a_batch_holds_at_most_the_batch_limit(bus: Bus) -> None:
    subscription = await bus.subscribe()
    batches = aiter(subscription.batches())
    for n in range(BATCH_LIMIT + 3):
        await bus.publish(event(n).topic, event(n).data)
    async with asyncio.timeout(WAIT):
        assert await anext(batches) == [event(n) for n in range(BATCH_LIMIT)]
        assert await anext(batches) == [event(n) for n in range(BATCH_LIMIT, BATCH_LIMIT + 3)]
    await subscription.close()


# --- the memory backend's overflow policy ------------------------------------------------


async def test_overflow_yields_one_gap_then_delivery_continues() -> None:
    bus = MemoryBus(queue_size=2)
    reader = await subscribe(bus)
    for n in range(5):  # nobody reads in between: events 2, 3, 4 are dropped
        await bus.publish(event(n).topic, event(n).data)
    # The GAP stands exactly where the loss began: after what was kept.
    assert await reader.take(3) == [event(0), event(1), BusEvent(GAP, "")]

    await bus.publish(event(5).topic, event(5).data)
    assert await reader.take(1) == [event(5)]  # no second gap
    await bus.close()
    assert await reader.rest() == []


async def test_a_gap_is_reported_before_any_event_published_after_the_loss() -> None:
    bus = MemoryBus(queue_size=1)
    reader = await subscribe(bus)
    await bus.publish(channel_topic(1), "kept")
    await bus.publish(channel_topic(1), "lost")
    received = await reader.take(2)
    await bus.publish(channel_topic(1), "later")
    received += await reader.take(1)
    assert received == [BusEvent(channel_topic(1), "kept"), BusEvent(GAP, ""),
                        BusEvent(channel_topic(1), "later")]
    await bus.close()


async def test_events_after_a_loss_are_dropped_until_the_gap_is_delivered() -> None:
    bus = MemoryBus(queue_size=1)
    reader = await subscribe(bus)
    await bus.publish(channel_topic(1), "kept")
    await bus.publish(channel_topic(1), "lost")
    assert await reader.take(1) == [BusEvent(channel_topic(1), "kept")]
    # The queue has room again, but the subscriber has not yet been told of the loss:
    # delivering this would put it on the wrong side of the GAP.
    await bus.publish(channel_topic(1), "also lost")
    await bus.publish(channel_topic(1), "after the gap")  # still before the GAP is taken
    assert await reader.take(1) == [BusEvent(GAP, "")]
    await bus.publish(channel_topic(1), "delivered")
    assert await reader.take(1) == [BusEvent(channel_topic(1), "delivered")]
    await bus.close()


async def test_in_batches_the_gap_comes_alone_after_what_was_kept() -> None:
    bus = MemoryBus(queue_size=3)
    subscription = await bus.subscribe()
    batches = aiter(subscription.batches())
    for n in range(6):
        await bus.publish(event(n).topic, event(n).data)
    async with asyncio.timeout(WAIT):
        assert await anext(batches) == [event(0), event(1), event(2)]
        assert await anext(batches) == [BusEvent(GAP, "")]
        await bus.publish(event(6).topic, event(6).data)
        assert await anext(batches) == [event(6)]
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await anext(batches)


async def test_closing_a_full_subscription_still_ends_iteration() -> None:
    bus = MemoryBus(queue_size=1)
    reader = await subscribe(bus)
    await bus.publish(channel_topic(1), "fills the queue")
    await bus.close()
    # The queued event makes room for the end-of-stream marker rather than blocking close.
    assert await reader.rest() == []


# --- choosing a backend ------------------------------------------------------------------


def test_memory_url_opens_the_memory_bus() -> None:
    assert isinstance(open_bus("memory://"), MemoryBus)


def test_an_unsupported_bus_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported bus URL scheme"):
        open_bus("kafka://broker:9092")
