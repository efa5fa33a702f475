"""A per-key throttle: run a job at most once every ``interval`` seconds for each key,
and always once more after the last request, so the last change is never left out.

A roll call's tally (chat.actions.rollcall) uses it: 700 answers in ten seconds ask for
700 tallies, and HQ gets one at once and then at most four a second, each reading
everything committed before it ran. Runs of one key never overlap: a request made while
one runs is served by another run after it. Time comes from the injected clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from chat.types import Clock, Timer

log = logging.getLogger(__name__)


class Throttle:
    def __init__(self, clock: Clock, interval: float,
                 job: Callable[[int], Awaitable[None]]) -> None:
        self._clock = clock
        self._interval = interval
        self._job = job
        self._last: dict[int, float] = {}
        self._scheduled: dict[int, Timer] = {}
        self._running: set[int] = set()
        self._again: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, key: int) -> None:
        """Ask for a run for ``key``: now if none ran in the last interval, otherwise
        when it ends. Needs a running event loop."""
        if key in self._scheduled:
            return
        if key in self._running:
            self._again.add(key)
            return
        last = self._last.get(key)
        delay = 0.0 if last is None else max(
            0.0, last + self._interval - self._clock.monotonic())
        self._scheduled[key] = self._clock.call_later(delay, lambda: self._fire(key))

    def _fire(self, key: int) -> None:
        self._scheduled.pop(key, None)
        self._last[key] = self._clock.monotonic()
        self._running.add(key)
        task = asyncio.get_running_loop().create_task(self._run(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, key: int) -> None:
        try:
            await self._job(key)
        except Exception:
            log.exception("throttled job for %s failed", key)
        finally:
            self._running.discard(key)
            if key in self._again:
                self._again.discard(key)
                self.request(key)

    async def idle(self) -> None:
        """Wait for the runs in progress (not the ones scheduled later)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    def close(self) -> None:
        """Drop the scheduled runs (the node is stopping)."""
        for timer in self._scheduled.values():
            timer.cancel()
        self._scheduled.clear()
