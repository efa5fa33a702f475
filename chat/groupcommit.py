"""Group commit: concurrent requests of one kind share one transaction.

Requests queue while a batch is being written; the next batch takes everything queued
(up to ``max_batch``). An idle node writes a lone request at once, so batching adds no
wait; a busy one writes many requests per commit — one fsync, one lock of the audit
head, one multi-row INSERT per table — instead of one transaction each
(docs/performance.md, scenario d).

The writer answers each request on its own: a refusal (a :class:`ChatError` returned in
its slot) touches no one else. If the whole batch fails (a constraint another node raced
to, a lost connection), it rolled back as one, and each request is then written alone,
so one bad request cannot fail the others and nothing is stored twice.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")

# Writes a batch in one transaction; returns one result or exception per request, in
# order. Raising means the transaction rolled back as a whole.
BatchWriter = Callable[[Sequence[Req]], Awaitable[Sequence["Res | Exception"]]]


@dataclass(eq=False)
class _Lane(Generic[Req, Res]):
    """The queue and the running writer of one event loop."""

    queue: list[tuple[Req, asyncio.Future[Res]]] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None


class GroupCommit(Generic[Req, Res]):
    def __init__(self, write: BatchWriter[Req, Res], *, max_batch: int = 256) -> None:
        self._write = write
        self._max_batch = max_batch
        # How batching went (the benchmark reports the mean batch size).
        self.batches = 0
        self.requests = 0
        # One lane per event loop (tests set up on loops of their own).
        self._lanes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                               _Lane[Req, Res]] = weakref.WeakKeyDictionary()

    async def submit(self, request: Req) -> Res:
        """Queue ``request`` and wait for its result. A request whose waiter is
        cancelled before its batch starts is dropped unwritten."""
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane()
        future: asyncio.Future[Res] = loop.create_future()
        lane.queue.append((request, future))
        if lane.writer is None:
            lane.writer = loop.create_task(self._drain(lane), name="group commit")
        return await future

    async def idle(self) -> None:
        """Wait until this loop's writer has nothing left (before closing the database)."""
        lane = self._lanes.get(asyncio.get_running_loop())
        while lane is not None and lane.writer is not None:
            await asyncio.shield(lane.writer)

    async def _drain(self, lane: _Lane[Req, Res]) -> None:
        batch: list[tuple[Req, asyncio.Future[Res]]] = []
        try:
            while lane.queue:
                taken = lane.queue[:self._max_batch]
                del lane.queue[:self._max_batch]
                batch = [(request, future) for request, future in taken if not future.done()]
                if batch:
                    await self._write_batch(batch)
                batch = []
        finally:
            lane.writer = None
            for _, future in batch + lane.queue:
                future.cancel()
            lane.queue.clear()

    async def _write_batch(self, batch: list[tuple[Req, asyncio.Future[Res]]]) -> None:
        self.batches += 1
        self.requests += len(batch)
        try:
            results = await self._write([request for request, _ in batch])
        except Exception as failure:
            if len(batch) == 1:
                _settle(batch[0][1], failure)
                return
            log.warning("a batch of %d writes failed (%s); writing each alone",
                        len(batch), type(failure).__name__)
            for request, future in batch:
                try:
                    result: Res | Exception = (await self._write([request]))[0]
                except Exception as alone:
                    result = alone
                _settle(future, result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[Res], result: Res | Exception) -> None:
    if future.done():          # its waiter gave up; the write stands
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
