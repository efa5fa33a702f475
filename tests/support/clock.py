"""An injected clock for tests of expiries and policies (no sleeping)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any


class ManualTimer:
    """A :meth:`ManualClock.call_later` waiting for the clock to reach ``due``."""

    def __init__(self, due: float, loop: asyncio.AbstractEventLoop,
                 callback: Callable[[], None]) -> None:
        self.due = due
        self.loop = loop
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.callback()


class ManualClock:
    """An injected clock that moves only when a test says so (thread-safe enough for a
    server thread reading what the test thread wrote). Its timers (``call_later``) run
    when :meth:`advance` reaches them: at once on the caller's own loop, or soon on
    the loop that set them (a server's, in its thread)."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self._now = datetime.now(UTC)
        self._monotonic = 1000.0
        self._timers: list[ManualTimer] = []
        self._lock = threading.Lock()

    def now(self) -> Any:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def call_later(self, delay: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(self._monotonic + delay, asyncio.get_running_loop(), callback)
        with self._lock:
            self._timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds
        with self._lock:
            due = sorted((t for t in self._timers if t.due <= self._monotonic),
                         key=lambda t: t.due)
            self._timers = [t for t in self._timers if t.due > self._monotonic]
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for timer in due:
            if timer.loop is here:
                timer.fire()
            else:
                with contextlib.suppress(RuntimeError):  # that loop has closed
                    timer.loop.call_soon_threadsafe(timer.fire)

    def set(self, moment: Any) -> None:
        """Jump to an aware ``moment`` (monotonic time moves by the same amount)."""
        self.advance((moment - self._now).total_seconds())
