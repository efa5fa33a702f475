"""The call presence snapshot that connects share: who is ringing or on a call, as every
new connection's ready frame carries it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chat.types import JSON, Clock

# Reads the call presence snapshot: (what the ready frame carries, seconds until a call in
# it lapses by time alone).
CallPresenceLoader = Callable[[], Awaitable[tuple[list[JSON], float]]]


class CallPresenceCache:
    """One read of the call presence table, shared by the connects that follow it: at
    8:30, or after a network cut, hundreds of phones connect within seconds and each
    would read the same rows.

    The ``call.presence`` bus events carry every change to every connection registered
    by then; whoever connects later reads afresh once the hub has :meth:`forget`-ed the
    snapshot (on such an event or a GAP). A snapshot is also dropped when a call in it
    lapses by time (the sweep's event may come later) and after ``max_age_seconds``
    whatever happens; both are measured by the injected clock.
    """

    def __init__(self, *, clock: Clock, max_age_seconds: float) -> None:
        self._clock = clock
        self._max_age = max_age_seconds
        # (snapshot, monotonic time it stops being used). Bumping the generation drops
        # it, and a read that was under way meanwhile is not kept.
        self._kept: tuple[list[JSON], float] | None = None
        self._generation = 0

    async def get(self, load: CallPresenceLoader, *, keep: bool) -> list[JSON]:
        """The snapshot, read by ``load`` unless one is kept. A read that an event
        overtook (:meth:`forget` while it ran) is used once, not kept; nor is any read
        when ``keep`` is false (a hub that is not hearing the bus would miss the events
        that drop it)."""
        kept = self._kept
        if kept is not None and self._clock.monotonic() < kept[1]:
            return kept[0]
        generation = self._generation
        snapshot, lapses_in = await load()
        if generation == self._generation and keep:
            fresh_for = min(lapses_in, self._max_age)
            self._kept = (snapshot, self._clock.monotonic() + fresh_for)
        return snapshot

    def forget(self) -> None:
        """Drop the snapshot: a ``call.presence`` event or a GAP passed."""
        self._kept = None
        self._generation += 1
