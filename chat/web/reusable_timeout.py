"""``asyncio.timeout`` for a task that waits again and again with deadlines that mostly
move later: one timer for all its waits, moved only when it fires early or a wait needs
it sooner.

A websocket session waits for every frame with its idle deadline and runs every command
under a time limit. With ``asyncio.timeout`` each of those armed a timer on the event
loop and cancelled it (a heap push, and the cancelled handle popped later): two timers
for each message a client sent, on a heap holding one per open connection. Here the
timer stays where it is while the deadline slides later; when it fires before the
current deadline it is set again for it, so a busy connection re-arms it about once a
deadline period instead of once a frame.
"""

from __future__ import annotations

import asyncio
import math
from types import TracebackType


class ReusableTimeout:
    """Like ``asyncio.timeout``, reused for each ``async with`` of one task.

    ``async with timeout.after(seconds):`` cancels the task if the block runs past
    ``seconds`` and raises :class:`TimeoutError` in its place (a cancellation from
    elsewhere still propagates); :meth:`expired` says whether the last use timed out,
    and :meth:`expire_now` ends the current use at once. :meth:`disarm` drops the
    timer when the task is done with it.
    """

    __slots__ = ("_armed_at", "_cancelling", "_entered", "_expired", "_loop", "_task",
                 "_timer", "_when")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[object] | None = None  # the task using it, from its first use
        self._when = math.inf             # the current use's deadline, in loop time
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at = math.inf         # when the timer fires (inf: no timer)
        self._entered = False
        self._expired = False
        self._cancelling = 0

    def after(self, seconds: float) -> ReusableTimeout:
        """The next use ends ``seconds`` from now (``math.inf``: never)."""
        self._when = self._loop.time() + seconds
        return self

    def expired(self) -> bool:
        return self._expired

    async def __aenter__(self) -> ReusableTimeout:
        if self._entered:
            raise RuntimeError("ReusableTimeout is already in use")
        task = self._task
        if task is None:
            task = self._task = asyncio.current_task()
            if task is None:
                raise RuntimeError("ReusableTimeout should be used inside a task")
        self._entered = True
        self._expired = False
        self._cancelling = task.cancelling()
        if self._when < self._armed_at:  # needed sooner than the timer (or no timer)
            self._arm(self._when)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        # The timer stays armed: the next use most likely wants a later deadline, and
        # finding it set too early costs one re-arm then, not one per use.
        self._entered = False
        if self._expired:
            assert self._task is not None
            if self._task.uncancel() <= self._cancelling and \
                    exc_type is asyncio.CancelledError:
                raise TimeoutError from exc

    def expire_now(self) -> None:
        """End the current use now, as if its deadline had passed (no use: nothing)."""
        if self._entered and not self._expired:
            self._expire()

    def disarm(self) -> None:
        """Cancel the timer, between uses: the next use arms one for its own deadline
        (a task done with it, or whose next deadlines are all later than the timer)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._armed_at = None, math.inf

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if when == math.inf:
            self._timer, self._armed_at = None, math.inf
            return
        self._timer = self._loop.call_at(when, self._fire)
        self._armed_at = when

    def _fire(self) -> None:
        fired_at = self._armed_at
        self._timer, self._armed_at = None, math.inf
        if not self._entered or self._expired:
            return  # between uses: the next one arms it again
        if self._when > fired_at:
            self._arm(self._when)  # the deadline moved later meanwhile
            return
        self._expire()

    def _expire(self) -> None:
        assert self._task is not None
        self._expired = True
        self._task.cancel()
