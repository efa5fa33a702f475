"""One contract for every Bus backend: in-process, and Redis when configured."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

from chat.bus import GAP, Bus, BusEvent, Subscription, open_bus
from tests.support import REDIS_URL

BACKEND_URLS = ["memory://", "redis"]


@pytest.fixture(params=BACKEND_URLS)
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    url = str(request.param)
    if url == "redis":
        if not REDIS_URL:
            pytest.skip("set CHAT_TEST_REDIS_URL for the Redis backend")
        url = REDIS_URL
    backend = open_bus(url, prefix=f"tsunagu-test-{uuid.uuid4().hex[:12]}:")
    await backend.start()
    yield backend
    await backend.close()


@dataclass
class NamedBus:
    """A Redis bus whose connections carry ``name``, so ``admin`` can find and cut them."""
    bus: Bus
    admin: aioredis.Redis
    name: str

    async def connections(self, kind: str) -> list[str]:
        """Ids of this bus's connections of ``kind`` (``pubsub`` or ``normal``)."""
        return [c["id"] for c in await self.admin.client_list(_type=kind)
                if c["name"] == self.name]


@pytest.fixture
async def named_redis_bus() -> AsyncIterator[NamedBus]:
    if not REDIS_URL:
        pytest.skip("set CHAT_TEST_REDIS_URL for the Redis backend")
    name = f"tsunagu-test-{uuid.uuid4().hex[:12]}"
    bus = open_bus(f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}client_name={name}",
                   prefix=f"{name}:")
    await bus.start()
    admin = aioredis.from_url(REDIS_URL, decode_responses=True)
    try:
        yield NamedBus(bus, admin, name)
    finally:
        await admin.aclose()
        await bus.close()


async def take(subscription: Subscription, count: int) -> list[BusEvent]:
    events: list[BusEvent] = []

    async def collect() -> None:
        async for event in subscription:
            if event.topic.startswith("contract:"):
                events.append(event)
            if len(events) == count:
                return

    await asyncio.wait_for(collect(), 5)
    return events


async def test_every_subscriber_gets_every_event_in_publish_order(bus: Bus) -> None:
    first, second = await bus.subscribe(), await bus.subscribe()
    for i in range(20):
        await bus.publish(f"contract:{i % 3}", f"データ{i}")
    for subscription in (first, second):
        events = await take(subscription, 20)
        assert [e.data for e in events] == [f"データ{i}" for i in range(20)]
        assert [e.topic for e in events] == [f"contract:{i % 3}" for i in range(20)]
    await first.close()
    await second.close()


async def test_events_already_arrived_are_batched_in_publish_order(bus: Bus) -> None:
    """What the hub reads: each list holds what had arrived, so a connection's share of
    it goes out in one socket write."""
    subscription = await bus.subscribe()
    for i in range(20):  # each publish returns once the backend has taken it
        await bus.publish(f"contract:{i % 3}", f"データ{i}")
    batches: list[list[BusEvent]] = []

    async def collect() -> None:
        async for batch in subscription.batches():
            batches.append([e for e in batch if e.topic.startswith("contract:")])
            if sum(map(len, batches)) >= 20:
                return

    await asyncio.wait_for(collect(), 5)
    assert [e.data for batch in batches for e in batch] == [f"データ{i}" for i in range(20)]
    assert len(batches) < 20  # they were waiting together, so they came together
    await subscription.close()


async def test_closing_a_subscription_ends_its_iteration(bus: Bus) -> None:
    subscription = await bus.subscribe()

    async def drain() -> None:
        async for _ in subscription:
            pass

    task = asyncio.create_task(drain())
    await asyncio.sleep(0.05)
    await subscription.close()
    await asyncio.wait_for(task, 5)


async def test_a_full_memory_subscription_reports_a_gap() -> None:
    bus = open_bus("memory://")
    bus._queue_size = 3  # type: ignore[attr-defined]
    subscription = await bus.subscribe()
    for i in range(10):
        await bus.publish("contract:x", str(i))
    await bus.publish("contract:x", "after")
    seen = []
    async for event in subscription:
        seen.append(event.topic if event.topic == GAP else event.data)
        if len(seen) == 4:
            break
    assert seen == ["0", "1", "2", GAP]
    await bus.close()


async def test_deployments_with_other_prefixes_never_hear_each_other() -> None:
    if not REDIS_URL:
        pytest.skip("set CHAT_TEST_REDIS_URL for the Redis backend")
    ours, theirs = (open_bus(REDIS_URL, prefix=f"tsunagu-test-{uuid.uuid4().hex[:12]}:")
                    for _ in range(2))
    await ours.start()
    await theirs.start()
    try:
        subscription = await ours.subscribe()
        await theirs.publish("contract:a", "not for us")
        await ours.publish("contract:a", "ours")
        events = await take(subscription, 1)
        assert [e.data for e in events] == ["ours"]
        await subscription.close()
    finally:
        await ours.close()
        await theirs.close()


async def test_a_lost_redis_subscription_comes_back_with_a_gap_before_anything_newer(
        named_redis_bus: NamedBus) -> None:
    """The connection to Redis is cut (here by the server: ``CLIENT KILL`` of this bus's
    subscriber, found by its client name): the subscription logs it, resubscribes, and
    reports a GAP before any event published after the loss."""
    bus = named_redis_bus.bus
    subscription = await bus.subscribe()
    seen: list[str] = []
    arrived = asyncio.Event()

    async def collect() -> None:
        async for batch in subscription.batches():
            seen.extend(e.topic if e.topic == GAP else e.data for e in batch)
            arrived.set()

    reader = asyncio.create_task(collect())
    await bus.publish("contract:a", "before")
    async with asyncio.timeout(5):
        await arrived.wait()
        assert seen == ["before"]
        ours = await named_redis_bus.connections("pubsub")
        assert len(ours) == 1
        await named_redis_bus.admin.client_kill_filter(_id=ours[0])
        while "after" not in seen:  # what is published while cut off is lost
            await bus.publish("contract:a", "after")
            await asyncio.sleep(0.1)
    assert seen[1] == GAP
    assert set(seen[2:]) == {"after"}
    await subscription.close()
    await asyncio.wait_for(reader, 5)


async def test_a_publish_on_a_broken_connection_goes_out_on_a_new_one(
        named_redis_bus: NamedBus) -> None:
    """The publishing connection is cut (``CLIENT KILL`` of this bus's normal
    connection) while the subscribers' connection is fine, so nobody would see a GAP:
    the next publish is retried on a new connection, and every event arrives, in
    order (before, a batch's events after its commit were lost without a trace)."""
    bus = named_redis_bus.bus
    subscription = await bus.subscribe()
    seen: list[str] = []
    first, arrived = asyncio.Event(), asyncio.Event()

    async def collect() -> None:
        async for batch in subscription.batches():
            seen.extend(e.topic if e.topic == GAP else e.data for e in batch)
            first.set()
            if "third" in seen:
                arrived.set()

    reader = asyncio.create_task(collect())
    await bus.publish("contract:a", "first")
    async with asyncio.timeout(5):
        await first.wait()
        publishers = await named_redis_bus.connections("normal")
        assert len(publishers) == 1
        await named_redis_bus.admin.client_kill_filter(_id=publishers[0])
        await bus.publish_many([("contract:a", "second"), ("contract:a", "third")])
        await arrived.wait()
    assert seen == ["first", "second", "third"]
    await subscription.close()
    await asyncio.wait_for(reader, 5)
