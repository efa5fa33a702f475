"""What each frame a client sends costs the node's event loop, counted on a real server
over a real socket: no timer armed for it (the idle deadline and the command's time
limit share one timer per connection, chat/web/reusable_timeout.py) and no change to
the loop's epoll set (reading stops only while frames wait, chat/web/transport.py).
Docs: docs/performance.md, "Where a message's CPU goes"."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from chat.web.transport import WebSocketProtocol
from tests.support import ChatClient, RunningServer, dev_token
from tests.support.people import SUZUKI

PINGS = 30
SENDS = 10


class LoopCounts:
    """Counts, on the server's event loop, the timers its websocket sessions' tasks
    arm and how often the one websocket's socket stops being read. The loop's own
    methods still run; only a count is kept beside them."""

    def __init__(self, sink: WebSocketProtocol) -> None:
        self.loop = sink.loop
        self.fd = sink.transport.get_extra_info("socket").fileno()
        self.counts: Counter[str] = Counter()

    def _in_session(self) -> bool:
        task = asyncio.current_task(self.loop)
        return task is not None and task.get_coro().__qualname__.endswith(".run_asgi")

    def install(self) -> None:
        """Wrap the loop's methods from its own thread, so no call races the change."""
        loop, counts = self.loop, self.counts
        call_at, remove_reader = loop.call_at, loop._remove_reader  # type: ignore[attr-defined]

        def counting_call_at(when: float, callback: Callable[..., object], *args: Any,
                             context: Any = None) -> asyncio.TimerHandle:
            if self._in_session():
                counts["timers"] += 1
            return call_at(when, callback, *args, context=context)

        def counting_remove_reader(fd: Any) -> bool:
            if fd == self.fd:
                counts["reading_stopped"] += 1
            return bool(remove_reader(fd))

        done = threading.Event()

        def install() -> None:
            loop.call_at = counting_call_at  # type: ignore[method-assign]
            loop._remove_reader = counting_remove_reader  # type: ignore[attr-defined]
            done.set()

        loop.call_soon_threadsafe(install)
        assert done.wait(5)

    def remove(self) -> None:
        done = threading.Event()

        def remove() -> None:
            del self.loop.call_at  # type: ignore[method-assign]
            del self.loop._remove_reader  # type: ignore[attr-defined]
            done.set()

        self.loop.call_soon_threadsafe(remove)
        assert done.wait(5)


def the_websocket(server: RunningServer) -> WebSocketProtocol:
    (sink,) = [c for c in server.server.server_state.connections
               if isinstance(c, WebSocketProtocol)]
    return sink


async def test_frames_arm_no_timer_and_leave_the_epoll_set_alone(
        server: RunningServer) -> None:
    client = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    assert client.ready is not None
    group = next(c for c in client.ready["channels"] if c["name"] == "忘年会幹事")["id"]
    await client.send_message(group, "warm-up")  # first use of everything
    counts = LoopCounts(the_websocket(server))
    counts.install()
    try:
        for _ in range(PINGS):
            await client.send({"type": "ping"})
            await client.expect("pong")
        for n in range(SENDS):
            ack = await client.send_message(group, f"frame {n}")
            await client.expect("message", lambda f, i=ack["message"]["id"]:
                                f["message"]["id"] == i)
    finally:
        counts.remove()
    # Before: one timer per frame read (its idle deadline) and one more per command
    # (its time limit), and reading stopped (and started again) after every frame. Now
    # the session's one timer is re-armed only when a deadline comes sooner than it.
    assert counts.counts["timers"] <= 2, counts.counts
    assert counts.counts["reading_stopped"] == 0, counts.counts
    # The heartbeat and the idle deadline still work: a ping is answered.
    await client.send({"type": "ping"})
    await client.expect("pong")
