"""Online presence: who has a connection on any node, and telling every connection here
when that changes, a burst of changes in one frame."""

from __future__ import annotations

import json
import logging
from bisect import bisect_left
from collections.abc import Callable

from chat.bus import Bus
from chat.bus.topics import PRESENCE_TOPIC
from chat.frames import encode
from chat.types import Clock, Timer

log = logging.getLogger(__name__)


class Presence:
    """Each node announces on the bus when a person's first connection to it opens and
    when their last closes (:meth:`announce`); every node, this one included, hears
    those events (:meth:`heard`) and so knows on which nodes each person is.

    Changes are coalesced: the first after a quiet spell goes out at once, the rest of
    the window's changes go out together at its end (last state wins). 8:30 on a Monday,
    N people connecting would otherwise cost N² frames. The window is measured by the
    injected clock (``window_seconds``; 0 sends every change alone).
    """

    def __init__(self, bus: Bus, *, node_id: str, clock: Clock, window_seconds: float,
                 is_here: Callable[[int], bool], offer_all: Callable[[str], None]) -> None:
        self._bus = bus
        self._node_id = node_id
        self._clock = clock
        self._window_seconds = window_seconds
        self._is_here = is_here
        self._offer_all = offer_all
        # user id -> nodes where that user has at least one connection (from the bus).
        self._nodes: dict[int, tuple[str, ...]] = {}
        # Who is online (here or on any node), kept sorted as users come and go: every
        # ready frame carries it, and rebuilding it per connect costs O(N log N).
        self._online: list[int] = []
        self._pending: dict[int, str] = {}
        self._window: Timer | None = None

    def online_user_ids(self) -> list[int]:
        """Users with a connection here, or on any node as far as the bus told us;
        sorted, and a copy."""
        return list(self._online)

    async def announce(self, user_id: int, status: str) -> None:
        """Tell every node that ``user_id``'s first connection here opened (``online``)
        or their last closed (``offline``). The caller has registered the change."""
        self.update(user_id)
        try:
            await self._bus.publish(PRESENCE_TOPIC, json.dumps(
                {"user_id": user_id, "status": status, "node": self._node_id}))
        except Exception:
            log.exception("could not publish presence")

    def update(self, user_id: int) -> None:
        """Bring ``user_id``'s place in the online list up to date."""
        online = self._is_here(user_id) or user_id in self._nodes
        at = bisect_left(self._online, user_id)
        listed = at < len(self._online) and self._online[at] == user_id
        if online and not listed:
            self._online.insert(at, user_id)
        elif listed and not online:
            del self._online[at]

    def heard(self, data: str) -> None:
        """A presence event from the bus (any node's, this one's included)."""
        event = json.loads(data)
        user_id, node = int(event["user_id"]), str(event["node"])
        before = self._nodes.get(user_id, ())
        nodes = tuple(n for n in before if n != node)
        if event["status"] == "online":
            nodes += (node,)
        was_online = bool(before)
        if nodes:
            self._nodes[user_id] = nodes
        else:
            self._nodes.pop(user_id, None)
        self.update(user_id)
        if bool(nodes) != was_online:
            self._changed(user_id, "online" if nodes else "offline")

    def close(self) -> None:
        if self._window is not None:
            self._window.cancel()
            self._window = None

    def _changed(self, user_id: int, status: str) -> None:
        if self._window is not None:
            self._pending[user_id] = status
            return
        self._offer_all(encode({"type": "presence", "user_id": user_id, "status": status}))
        self._open_window()

    def _open_window(self) -> None:
        if self._window_seconds <= 0:
            return
        try:
            self._window = self._clock.call_later(self._window_seconds, self._window_ended)
        except RuntimeError:        # no loop (a synchronous caller): nothing to coalesce
            return

    def _window_ended(self) -> None:
        """The window's changes in one frame; the window stays open while busy."""
        self._window = None
        pending, self._pending = self._pending, {}
        if not pending:
            return
        if len(pending) == 1:
            ((user_id, status),) = pending.items()
            frame = {"type": "presence", "user_id": user_id, "status": status}
        else:
            frame = {"type": "presence.batch",
                     "online": sorted(u for u, s in pending.items() if s == "online"),
                     "offline": sorted(u for u, s in pending.items() if s == "offline")}
        self._offer_all(encode(frame))
        self._open_window()
