"""Group commit mechanics (chat.groupcommit): what is batched, and how one failure is
kept from the others. The writer here is the test's own; the message batch itself is
tested against real databases in tests/integration/test_group_commit.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from chat.groupcommit import GroupCommit


class Recorder:
    """Answers ``n`` with ``n * 10``; refuses (per request) negative numbers; spoils the
    whole batch when it holds a zero, as a database error would."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate: asyncio.Event | None = None

    async def write(self, requests: Sequence[int]) -> list[int | Exception]:
        self.batches.append(list(requests))
        if self.gate is not None:
            await self.gate.wait()
        if 0 in requests:
            raise RuntimeError("the transaction rolled back")
        return [ValueError(f"refused {n}") if n < 0 else n * 10 for n in requests]


async def test_a_lone_request_is_written_at_once_in_a_batch_of_its_own() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write)
    assert await commit.submit(4) == 40
    assert recorder.batches == [[4]]
    assert (commit.batches, commit.requests) == (1, 1)


async def test_requests_queued_while_a_batch_is_written_share_the_next_batch() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit = GroupCommit(recorder.write)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert recorder.batches == [[1]]            # written alone, and still in flight
    later = [asyncio.create_task(commit.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    recorder.gate.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30, 40]
    assert recorder.batches == [[1], [2, 3, 4]]


async def test_batches_are_capped_and_keep_arrival_order() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write, max_batch=3)
    results = await asyncio.gather(*(commit.submit(n) for n in range(1, 8)))
    assert results == [n * 10 for n in range(1, 8)]
    assert recorder.batches == [[1, 2, 3], [4, 5, 6], [7]]


async def test_a_refusal_answers_only_its_own_request() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write)
    results = await asyncio.gather(*(commit.submit(n) for n in (1, -2, 3)),
                                   return_exceptions=True)
    assert results[0] == 10 and results[2] == 30
    assert isinstance(results[1], ValueError) and str(results[1]) == "refused -2"
    assert recorder.batches == [[1, -2, 3]]


async def test_a_spoiled_batch_is_written_again_one_request_at_a_time() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write)
    results = await asyncio.gather(*(commit.submit(n) for n in (1, 0, 2)),
                                   return_exceptions=True)
    assert results[0] == 10 and results[2] == 20
    assert isinstance(results[1], RuntimeError)
    assert recorder.batches == [[1, 0, 2], [1], [0], [2]]


async def test_a_request_given_up_before_its_batch_starts_is_not_written() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit = GroupCommit(recorder.write)
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    abandoned = asyncio.create_task(commit.submit(2))
    kept = asyncio.create_task(commit.submit(3))
    await asyncio.sleep(0)
    abandoned.cancel()
    recorder.gate.set()
    assert (await first, await kept) == (10, 30)
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    assert recorder.batches == [[1], [3]]


async def test_idle_waits_for_every_queued_write() -> None:
    recorder = Recorder()
    recorder.gate = asyncio.Event()
    commit = GroupCommit(recorder.write)
    pending = [asyncio.create_task(commit.submit(n)) for n in (1, 2)]
    await asyncio.sleep(0)
    waiter = asyncio.create_task(commit.idle())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    recorder.gate.set()
    await waiter
    assert all(task.done() for task in pending)
    assert [task.result() for task in pending] == [10, 20]


async def test_a_request_arriving_as_the_writer_finishes_is_still_written() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.write)
    for n in range(1, 30):
        # Each time, the previous writer is ending on this very turn of the loop.
        assert await commit.submit(n) == n * 10
    assert len(recorder.batches) == 29
