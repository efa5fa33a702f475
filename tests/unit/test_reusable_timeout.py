"""chat/web/reusable_timeout.py: ``asyncio.timeout``'s behaviour, with one timer for
all of a task's waits, re-armed only when a wait needs it sooner or it fires early."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from chat.web.reusable_timeout import ReusableTimeout


def count_timers(loop: asyncio.AbstractEventLoop) -> Counter[str]:
    """Count the loop's ``call_at`` (every timer goes through it) while still running it."""
    counts: Counter[str] = Counter()
    call_at = loop.call_at

    def counting(when: float, callback: Callable[..., object], *args: Any,
                 context: Any = None) -> asyncio.TimerHandle:
        counts["timers"] += 1
        return call_at(when, callback, *args, context=context)

    loop.call_at = counting  # type: ignore[method-assign]
    return counts


async def test_a_wait_past_its_deadline_raises_timeout_error() -> None:
    timeout = ReusableTimeout()
    with pytest.raises(TimeoutError):
        async with timeout.after(0.01):
            await asyncio.sleep(1)
    assert timeout.expired()
    async with timeout.after(1):  # reusable at once, and not expired any more
        await asyncio.sleep(0)
    assert not timeout.expired()
    timeout.disarm()


async def test_waits_whose_deadlines_move_later_share_one_timer() -> None:
    loop = asyncio.get_running_loop()
    timeout = ReusableTimeout()
    counts = count_timers(loop)
    try:
        for _ in range(50):
            async with timeout.after(60):
                await asyncio.sleep(0)
        # A shorter wait needs it sooner: re-armed once; longer ones after it are not.
        async with timeout.after(10):
            await asyncio.sleep(0)
        for _ in range(10):
            async with timeout.after(60):
                await asyncio.sleep(0)
        assert counts["timers"] == 2
        # Disarmed (a session past its auth deadline): the next use arms its own.
        timeout.disarm()
        async with timeout.after(60):
            await asyncio.sleep(0)
        assert counts["timers"] == 3
    finally:
        del loop.call_at  # type: ignore[method-assign]
        timeout.disarm()


async def test_a_timer_that_fires_early_is_set_again_for_the_later_deadline() -> None:
    timeout = ReusableTimeout()
    async with timeout.after(0.02):
        await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError):
        async with timeout.after(0.1):   # its timer still fires at 0.02: too early
            await asyncio.sleep(1)
    assert asyncio.get_running_loop().time() - started >= 0.1
    timeout.disarm()


async def test_expire_now_ends_the_current_wait_and_nothing_else() -> None:
    timeout = ReusableTimeout()
    timeout.expire_now()  # no wait: nothing happens
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, timeout.expire_now)
    with pytest.raises(TimeoutError):
        async with timeout.after(math.inf):
            await asyncio.sleep(1)
    async with timeout.after(math.inf):
        await asyncio.sleep(0.02)
    assert not timeout.expired()
    timeout.disarm()


async def test_a_cancellation_from_elsewhere_still_propagates() -> None:
    async def waits() -> None:
        timeout = ReusableTimeout()
        try:
            async with timeout.after(0.01):
                await asyncio.sleep(1)
        finally:
            timeout.disarm()

    task = asyncio.create_task(waits())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    async def cancelled_as_it_expires() -> None:
        timeout = ReusableTimeout()
        async with timeout.after(0):
            asyncio.current_task().cancel()  # type: ignore[union-attr]
            await asyncio.sleep(1)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(cancelled_as_it_expires())


async def test_one_use_at_a_time() -> None:
    timeout = ReusableTimeout()
    async with timeout.after(1):
        with pytest.raises(RuntimeError):
            async with timeout.after(1):
                pass
    timeout.disarm()
