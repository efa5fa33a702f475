"""The Bus contract (chat/bus/__init__.py), run against each backend that needs no server.

The Redis backend needs a server and belongs with the integration tests; add a factory to
``BACKENDS`` here to run this same suite against another in-process backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat.bus import GAP, Bus, BusEvent, Subscription, open_bus
from chat.bus.memory import MemoryBus

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


async def take(subscription: Subscription, count: int) -> list[BusEvent]:
    events: list[BusEvent] = []
    iterator = aiter(subscription)
    async with asyncio.timeout(WAIT):
        while len(events) < count:
            events.append(await anext(iterator))
    return events


async def collect_until_closed(subscription: Subscription) -> list[BusEvent]:
    async with asyncio.timeout(WAIT):
        return [event async for event in subscription]


def event(n: int) -> BusEvent:
    return BusEvent(f"channel:{n % 3}", f'{{"n": {n}}}')


async def test_a_subscriber_receives_events_in_publish_order(bus: Bus) -> None:
    subscription = await bus.subscribe()
    for n in range(20):
        await bus.publish(event(n).topic, event(n).data)
    assert await take(subscription, 20) == [event(n) for n in range(20)]


async def test_every_subscriber_receives_every_event(bus: Bus) -> None:
    first, second = await bus.subscribe(), await bus.subscribe()
    for n in range(3):
        await bus.publish(event(n).topic, event(n).data)
    expected = [event(0), event(1), event(2)]
    assert await take(first, 3) == expected
    assert await take(second, 3) == expected


async def test_events_published_before_subscribing_are_not_delivered(bus: Bus) -> None:
    await bus.publish("channel:1", "early")
    subscription = await bus.subscribe()
    await bus.publish("channel:1", "late")
    assert await take(subscription, 1) == [BusEvent("channel:1", "late")]


async def test_japanese_payloads_arrive_unchanged(bus: Bus) -> None:
    subscription = await bus.subscribe()
    await bus.publish("channel:1", '{"body":"本日の窓口は17時までです"}')
    [received] = await take(subscription, 1)
    assert received.data == '{"body":"本日の窓口は17時までです"}'


async def test_closing_the_bus_ends_iteration(bus: Bus) -> None:
    subscription = await bus.subscribe()
    await bus.publish("channel:1", "before close")
    reader = asyncio.create_task(collect_until_closed(subscription))
    await asyncio.sleep(0)
    await bus.close()
    assert await reader == [BusEvent("channel:1", "before close")]


async def test_closing_a_subscription_ends_its_iteration_only(bus: Bus) -> None:
    closing, staying = await bus.subscribe(), await bus.subscribe()
    await closing.close()
    await closing.close()  # twice is harmless
    assert await collect_until_closed(closing) == []
    await bus.publish("channel:1", "after close")
    assert await take(staying, 1) == [BusEvent("channel:1", "after close")]


# --- the memory backend's overflow policy ------------------------------------------------


async def test_overflow_yields_one_gap_then_delivery_continues() -> None:
    bus = MemoryBus(queue_size=2)
    subscription = await bus.subscribe()
    for n in range(5):  # nobody reads in between: events 2, 3, 4 are dropped
        await bus.publish(event(n).topic, event(n).data)
    received = await take(subscription, 3)
    assert received.count(BusEvent(GAP, "")) == 1
    assert [e for e in received if e.topic != GAP] == [event(0), event(1)]

    await bus.publish(event(5).topic, event(5).data)
    assert await take(subscription, 1) == [event(5)]  # no second gap
    await bus.close()
    assert await collect_until_closed(subscription) == []


async def test_a_gap_is_reported_before_any_event_published_after_the_loss() -> None:
    bus = MemoryBus(queue_size=1)
    subscription = await bus.subscribe()
    await bus.publish("channel:1", "kept")
    await bus.publish("channel:1", "lost")
    received = await take(subscription, 2)
    await bus.publish("channel:1", "later")
    received += await take(subscription, 1)
    assert BusEvent("channel:1", "lost") not in received
    assert received.index(BusEvent(GAP, "")) < received.index(BusEvent("channel:1", "later"))
    await bus.close()


async def test_closing_a_full_subscription_still_ends_iteration() -> None:
    bus = MemoryBus(queue_size=1)
    subscription = await bus.subscribe()
    await bus.publish("channel:1", "fills the queue")
    await bus.close()
    # The queued event makes room for the end-of-stream marker rather than blocking close.
    assert await collect_until_closed(subscription) == []


# --- choosing a backend ------------------------------------------------------------------


def test_memory_url_opens_the_memory_bus() -> None:
    assert isinstance(open_bus("memory://"), MemoryBus)


def test_an_unsupported_bus_url_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported bus URL scheme"):
        open_bus("kafka://broker:9092")
