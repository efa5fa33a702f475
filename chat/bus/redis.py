"""Redis pub/sub bus for several nodes.

Redis pub/sub is fire-and-forget: a node that is disconnected misses what was published
meanwhile, so after every re-subscribe the subscription yields GAP and clients resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
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
# A PUBLISH is answered in well under a millisecond: one not answered in this long is on
# a connection that hangs (Redis frozen, a network black hole) and is given up.
PUBLISH_SOCKET_TIMEOUT = 1.0
# Events waiting for the publisher at most; past this they are dropped (and a GAP
# published) rather than held: memory stays bounded through an outage.
PUBLISH_QUEUE_LIMIT = 20_000
# Events in one pipeline at most.
PUBLISH_BATCH = 512
# The wait between two attempts to announce a GAP while Redis cannot be reached.
GAP_RETRY_SECONDS = 0.5


class RedisBus:
    """Publishes through one task per node, so no caller waits for Redis.

    :meth:`publish` and :meth:`publish_many` queue the events and return at once: the
    after-commit hooks that call them (a send's fanout, chat.store.uow) run before the
    send is acknowledged, and an ack must not wait on the bus (a Redis outage used to
    hold every ack for the retries, ~2 s, and a frozen Redis for ever). The publisher
    task drains the queue in order, so a node's events keep their commit order.

    Events that may not have reached Redis (a batch given up after the retries, or the
    queue full) are a GAP: the subscriptions of this node report one at once, and once
    Redis answers again the publisher announces ``bus.gap`` to every node before
    anything newer, so every client resyncs from the database (docs/protocol.md#faults).
    """

    def __init__(self, url: str, *, prefix: str = PREFIX, queued: bool = True,
                 queue_limit: int = PUBLISH_QUEUE_LIMIT) -> None:
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
        # A serving node queues; a process beside it (the CLI: ``queued`` False) answers
        # no acks and publishes inline, before it exits.
        self._queued_publishing = queued
        self._queue: deque[tuple[str, str]] = deque()
        self._queue_limit = queue_limit
        self._queued = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()         # set while the publisher has nothing to do
        self._sending = False
        # Some events may not have reached Redis and no bus.gap has said so yet.
        self._gap_owed = False
        #: How many events were dropped or given up (a count for the operator).
        self.lost_events = 0

    async def start(self) -> None:
        # A command on a connection that broke (a network blip, Redis restarted, a
        # failover) is retried on a new one: most blips then lose nothing. A retry may
        # publish an event twice (when the break came after Redis took it); clients
        # drop a message whose seq they have, and apply edits by version
        # (docs/protocol.md). What is still not published after the retries is a GAP.
        self._client = aioredis.from_url(
            self._url, decode_responses=True, socket_timeout=PUBLISH_SOCKET_TIMEOUT,
            socket_connect_timeout=PUBLISH_SOCKET_TIMEOUT,
            retry=Retry(ExponentialBackoff(cap=PUBLISH_RETRY_CAP, base=PUBLISH_RETRY_BASE),
                        PUBLISH_RETRIES))
        self._listener = aioredis.from_url(self._url, decode_responses=True)
        # Fail loudly at start-up rather than on the first message.
        await self._client.ping()
        if self._queued_publishing:
            self._publisher = asyncio.create_task(self._publish_queued(),
                                                  name="redis publisher")

    async def close(self, *, drain_seconds: float = 5.0) -> None:
        """Publish what is queued (for up to ``drain_seconds``), then disconnect."""
        if self._publisher is not None:
            if self._queue:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(drain_seconds):
                        await self.published()
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        for subscription in list(self._subscriptions):
            await subscription.close()
        if self._client is not None:
            await self._client.aclose()
        if self._listener is not None:
            await self._listener.aclose()

    async def publish(self, topic: str, data: str) -> None:
        await self.publish_many(((topic, data),))

    async def publish_many(self, events: Sequence[tuple[str, str]]) -> None:
        if self._queued_publishing:
            self._enqueue(events)
        elif events:
            assert self._client is not None, "RedisBus.start() was not awaited"
            async with self._client.pipeline(transaction=False) as pipe:
                for topic, data in events:
                    pipe.publish(self._prefix + topic, data)
                await pipe.execute()

    async def published(self) -> None:
        """Wait until everything queued so far went out (or was given up as a GAP)."""
        while self._queue or self._sending:
            self._idle.clear()
            await self._idle.wait()

    def _enqueue(self, events: Sequence[tuple[str, str]]) -> None:
        assert self._client is not None, "RedisBus.start() was not awaited"
        if not events:
            return
        if self._publisher is None:         # closed: a hook that ran after the close
            log.warning("redis bus closed; %d events not published", len(events))
            return
        if len(self._queue) + len(events) > self._queue_limit:
            self._lose(len(events), "the publish queue is full")
            return
        self._queue.extend(events)
        self._queued.set()

    def _lose(self, count: int, why: str) -> None:
        if not self._gap_owed:
            log.error("redis bus: %s; %d events dropped, clients will resync", why, count)
        self.lost_events += count
        self._gap_owed = True
        for subscription in self._subscriptions:
            subscription.report_gap()

    async def _publish_queued(self) -> None:
        """The publisher: announce an owed GAP first, then the queue, oldest first."""
        assert self._client is not None
        while True:
            if not self._queue and not self._gap_owed:
                self._idle.set()
                self._queued.clear()
                await self._queued.wait()
            if self._gap_owed:
                if not await self._send([(GAP, "")]):
                    await asyncio.sleep(GAP_RETRY_SECONDS)
                    continue
                self._gap_owed = False
                log.warning("redis bus: publishing again; a bus.gap told every node")
            batch = [self._queue.popleft()
                     for _ in range(min(len(self._queue), PUBLISH_BATCH))]
            if batch and not await self._send(batch):
                self._lose(len(batch), "a publish failed after its retries")

    async def _send(self, events: list[tuple[str, str]]) -> bool:
        """One pipeline without MULTI (one round trip, commands run in order); False when
        it failed after redis-py's retries (it may have been published, or not)."""
        assert self._client is not None
        self._sending = True
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for topic, data in events:
                    pipe.publish(self._prefix + topic, data)
                await pipe.execute()
            return True
        except (ConnectionError, OSError, aioredis.RedisError) as exc:
            log.debug("redis publish failed: %s", exc)
            return False
        finally:
            self._sending = False

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
        self._gap_reported = False

    async def connect(self) -> None:
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(self._prefix + "*")

    def __aiter__(self) -> AsyncIterator[BusEvent]:
        return one_by_one(self.batches())

    async def batches(self) -> AsyncIterator[list[BusEvent]]:
        cut = len(self._prefix)
        while not self._closed.is_set():
            batch: list[BusEvent] = []
            if self._gap_reported:           # this node's publisher lost events
                self._gap_reported = False
                yield [BusEvent(GAP, "")]
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

    def report_gap(self) -> None:
        """This node could not publish some events: yield a GAP at the next turn (within
        the second a quiet ``get_message`` waits)."""
        self._gap_reported = True

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
