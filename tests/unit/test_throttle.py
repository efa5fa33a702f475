"""The per-key throttle behind a roll call's live tally: at once, then at most once per
interval, never overlapping, and always once after the last request."""

from __future__ import annotations

import asyncio

from chat.throttle import Throttle
from tests.support import ManualClock


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_many_requests_make_one_run_now_and_one_after_the_interval() -> None:
    clock = ManualClock()
    runs: list[tuple[int, float]] = []

    async def job(key: int) -> None:
        runs.append((key, clock.monotonic()))

    throttle = Throttle(clock, 0.5, job)
    throttle.request(1)
    clock.advance(0)
    await settle()
    assert runs == [(1, 1000.0)]
    for _ in range(700):
        throttle.request(1)
    throttle.request(2)            # another roll call is not held up by the first
    clock.advance(0)
    await settle()
    assert runs == [(1, 1000.0), (2, 1000.0)]
    clock.advance(0.3)
    await settle()
    assert len(runs) == 2
    clock.advance(0.2)
    await settle()
    assert runs[-1] == (1, 1000.5) and len(runs) == 3
    clock.advance(5)
    await settle()
    assert len(runs) == 3          # nothing asked since: nothing runs
    await throttle.idle()


async def test_a_request_during_a_run_is_served_by_a_run_after_it() -> None:
    clock = ManualClock()
    gate = asyncio.Event()
    started: list[int] = []

    async def job(key: int) -> None:
        started.append(key)
        if len(started) == 1:
            await gate.wait()

    throttle = Throttle(clock, 0.5, job)
    throttle.request(1)
    clock.advance(0)
    await settle()
    throttle.request(1)            # while the first run is still reading
    clock.advance(1)
    await settle()
    assert started == [1]          # no overlap
    gate.set()
    await settle()
    clock.advance(0)
    await settle()
    assert started == [1, 1]
    throttle.close()
    await throttle.idle()
