"""Redis pub/sub bus for several nodes.

Redis pub/sub is fire-and-forget: a node that is disconnected misses what was published
meanwhile, so after every re-subscribe the subscription yields GAP and clients resync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from chat.bus import BATCH_LIMIT, GAP, BusEvent, one_by_one

log = logging.getLogger(__name__)

PREFIX = "tsunagu:"
# A command on a broken connection is tried again this often on a new one, after
# exponential pauses from PUBLISH_RETRY_BASE up to PUBLISH_RETRY_CAP seconds.
PUBLISH_RETRIES = 3
PUBLISH_RETRY_BASE = 0.05
PUBLISH_RETRY_CAP = 1.0


class RedisBus:
    def __init__(self, url: str, *, prefix: str = PREFIX) -> None:
        self._url = url
        self._prefix = prefix
        self._client: aioredis.Redis | None = None
        # Subscriptions on their own client, without retries: a subscription that lost
        # its connection must come back through RedisSubscription, which reports GAP;
        # redis-py's retry would re-subscribe silently, and the events lost meanwhile
        # would never be noticed.
        self._listener: aioredis.Redis | None = None
        self._subscriptions: set[RedisSubscription] = set()
        # Subscriptions that lost their connection and came back (chat.metrics reads it).
        self.reconnects = 0

    async def start(self) -> None:
        # A command on a connection that broke (a network blip, Redis restarted, a
        # failover) is retried on a new one: the publish after a batch's commit is
        # otherwise lost without anyone hearing of it, since the subscribers' own
        # connections may be fine and report no GAP. A retry may publish an event twice
        # (when the break came after Redis took it); clients drop a message whose seq
        # they have, and apply edits by version (docs/protocol.md).
        self._client = aioredis.from_url(
            self._url, decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=PUBLISH_RETRY_CAP, base=PUBLISH_RETRY_BASE),
                        PUBLISH_RETRIES))
        self._listener = aioredis.from_url(self._url, decode_responses=True)
        # Fail loudly at start-up rather than on the first message.
        await self._client.ping()

    async def close(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._client is not None:
            await self._client.aclose()
        if self._listener is not None:
            await self._listener.aclose()

    async def publish(self, topic: str, data: str) -> None:
        assert self._client is not None, "RedisBus.start() was not awaited"
        await self._client.publish(self._prefix + topic, data)

    async def publish_many(self, events: Sequence[tuple[str, str]]) -> None:
        assert self._client is not None, "RedisBus.start() was not awaited"
        if not events:
            return
        # A pipeline without MULTI: one round trip, commands run in order.
        async with self._client.pipeline(transaction=False) as pipe:
            for topic, data in events:
                pipe.publish(self._prefix + topic, data)
            await pipe.execute()

    async def subscribe(self) -> RedisSubscription:
        assert self._listener is not None, "RedisBus.start() was not awaited"
        subscription = RedisSubscription(self._listener, self._prefix, self._subscriptions,
                                         on_lost=self._lost)
        await subscription.connect()
        self._subscriptions.add(subscription)
        return subscription

    def _lost(self) -> None:
        self.reconnects += 1


class RedisSubscription:
    def __init__(self, client: aioredis.Redis, prefix: str,
                 registry: set[RedisSubscription], *, reconnect_delay: float = 0.5,
                 on_lost: Callable[[], None] | None = None) -> None:
        self._client = client
        self._prefix = prefix
        self._registry = registry
        self._reconnect_delay = reconnect_delay
        self._pubsub: Any = None
        self._closed = asyncio.Event()
        self._on_lost = on_lost

    async def connect(self) -> None:
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(self._prefix + "*")

    def __aiter__(self) -> AsyncIterator[BusEvent]:
        return one_by_one(self.batches())

    async def batches(self) -> AsyncIterator[list[BusEvent]]:
        cut = len(self._prefix)
        while not self._closed.is_set():
            batch: list[BusEvent] = []
            try:
                if self._pubsub is None:
                    await self.connect()
                    yield [BusEvent(GAP, "")]
                message = await self._pubsub.get_message(timeout=1.0)
                while message is not None:
                    batch.append(BusEvent(message["channel"][cut:], message["data"]))
                    if len(batch) >= BATCH_LIMIT:
                        break
                    # What the connection has already read: no wait.
                    message = await self._pubsub.get_message(timeout=0.0)
                if batch:
                    yield batch
            except (ConnectionError, OSError, aioredis.RedisError) as exc:
                if self._closed.is_set():
                    return
                log.error("redis bus subscription lost (%s); resubscribing", exc)
                if self._on_lost is not None:
                    self._on_lost()
                if batch:  # read before the loss; the GAP after reconnecting follows it
                    yield batch
                await self._drop_pubsub()
                await asyncio.sleep(self._reconnect_delay)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except (ConnectionError, OSError, aioredis.RedisError):
                pass

    async def close(self) -> None:
        self._closed.set()
        self._registry.discard(self)
        await self._drop_pubsub()
