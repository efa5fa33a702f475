"""The hub: this node's bus listener, routing each event to the local connections that
should see it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Sequence

from chat.bus import Bus, BusEvent, Subscription
from chat.bus.topics import PROBE_TOPIC, Topic, TopicKind, channel_id_of, parse_topic
from chat.frames import encode
from chat.hub.call_presence import CallPresenceCache, CallPresenceLoader
from chat.hub.connection import Connection, Outgoing
from chat.hub.presence import Presence
from chat.hub.registry import LocalConnections
from chat.hub.sweeps import (
    MembershipReconcile,
    MembershipSource,
    RevocationSource,
    RevocationSweep,
)
from chat.metrics import Metrics
from chat.periodic import every
from chat.protocol import CLOSE_SESSION_ENDED
from chat.types import JSON, Clock

log = logging.getLogger(__name__)

RESYNC_REQUIRED = encode({"type": "resync.required", "reason": "events may have been lost"})

# How often a hub with metrics publishes its fan-out lag probe (``bus.probe``).
LAG_PROBE_SECONDS = 5.0


class Hub:
    """Local connections only; the bus crosses nodes. Reads time only from ``clock``.

    ``memberships`` and ``revocations`` read the database for the sweeps
    (:mod:`chat.hub.sweeps`); without them the hub relies on the bus alone.
    """

    def __init__(self, bus: Bus, *, node_id: str, clock: Clock,
                 memberships: MembershipSource | None = None,
                 reconcile_seconds: float = 30.0,
                 revocations: RevocationSource | None = None,
                 revocation_sweep_seconds: float = 1.0,
                 presence_window_seconds: float = 0.5,
                 call_presence_max_age_seconds: float = 1.0,
                 metrics: Metrics | None = None,
                 lag_probe_seconds: float = LAG_PROBE_SECONDS) -> None:
        self.bus = bus
        self.node_id = node_id
        self._local = LocalConnections()
        self._presence = Presence(bus, node_id=node_id, clock=clock,
                                  window_seconds=presence_window_seconds,
                                  is_here=self._local.is_here,
                                  offer_all=self._local.offer_to_all)
        self._call_presence = CallPresenceCache(clock=clock,
                                                max_age_seconds=call_presence_max_age_seconds)
        self._reconcile = (None if memberships is None
                           else MembershipReconcile(self._local, memberships))
        self._reconcile_seconds = reconcile_seconds
        self._revocation_sweep = (None if revocations is None
                                  else RevocationSweep(self._local, revocations, clock=clock))
        self._revocation_sweep_seconds = revocation_sweep_seconds
        self._listener: asyncio.Task[None] | None = None
        self._sweeps: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None
        self.healthy = False
        self._metrics = metrics
        self._lag_probe_seconds = lag_probe_seconds
        self._clock = clock

    @property
    def connections(self) -> set[Connection]:
        """Every connection registered here (the registry's own set: do not change it)."""
        return self._local.all

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe()
        self.healthy = True
        self._listener = asyncio.create_task(self._listen(), name="hub-listener")
        if self._reconcile is not None:
            self._sweeps.append(asyncio.create_task(
                every(self._reconcile_seconds, self._reconcile.reconcile,
                      "membership reconciliation"), name="hub-reconciler"))
        if self._revocation_sweep is not None:
            self._sweeps.append(asyncio.create_task(
                every(self._revocation_sweep_seconds, self._revocation_sweep.sweep,
                      "revocation sweep"), name="hub-revocation-sweep"))
        if self._metrics is not None:
            self._sweeps.append(asyncio.create_task(self._probe_lag(),
                                                    name="hub-lag-probe"))

    async def stop(self) -> None:
        self._presence.close()
        for task in self._sweeps:
            await _cancel(task)
        if self._subscription is not None:
            await self._subscription.close()
        await _cancel(self._listener)

    async def _listen(self) -> None:
        """Dispatch bus events until stopped. A failure here is loud (logged as
        critical) and the listener resubscribes; clients are told to resync."""
        while True:
            assert self._subscription is not None
            try:
                async for batch in self._subscription.batches():
                    self.dispatch_batch(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.healthy = False
                # Events may be lost from here on: nothing kept is trusted, and while
                # unhealthy nothing is kept (call_presence).
                self._call_presence.forget()
                log.critical("hub bus listener failed; resubscribing", exc_info=True)
                await asyncio.sleep(0.5)
                if self._metrics is not None:
                    self._metrics.hub_resubscribed()
                try:
                    self._subscription = await self.bus.subscribe()
                    self.healthy = True
                except Exception:
                    log.critical("hub could not resubscribe", exc_info=True)
                    continue
                self._local.offer_to_all(RESYNC_REQUIRED)

    async def _probe_lag(self) -> None:
        """Publish a probe now and every :data:`LAG_PROBE_SECONDS`; hearing it back
        (:meth:`_probe_heard`) observes the fan-out lag: the bus's delivery and the
        listener's queue, what every event from this node waits. A probe rather than a
        time stamp in each event: nothing is added to the hot path or to clients' frames."""
        while True:
            try:
                await self.bus.publish(PROBE_TOPIC, json.dumps(
                    {"node": self.node_id, "at": self._clock.monotonic()}))
            except Exception:
                log.warning("could not publish the fan-out lag probe", exc_info=True)
            await asyncio.sleep(self._lag_probe_seconds)

    def _probe_heard(self, data: str) -> None:
        """Another node's probe is not ours to time (its monotonic clock is its own)."""
        if self._metrics is None:
            return
        try:
            probe = json.loads(data)
            if probe.get("node") != self.node_id:
                return
            lag = self._clock.monotonic() - float(probe["at"])
        except (ValueError, TypeError, KeyError, AttributeError):
            log.debug("ignoring a malformed lag probe")
            return
        self._metrics.fanout_lag.observe(max(0.0, lag))

    async def reconcile(self) -> None:
        """One membership reconciliation now (:class:`MembershipReconcile`)."""
        assert self._reconcile is not None
        await self._reconcile.reconcile()

    # -- registry -----------------------------------------------------------------------

    async def register(self, conn: Connection, channel_ids: Iterable[int]) -> None:
        if self._local.add(conn, channel_ids):
            await self._presence.announce(conn.user_id, "online")

    async def unregister(self, conn: Connection) -> None:
        if self._local.remove(conn):
            await self._presence.announce(conn.user_id, "offline")

    def connections_of(self, user_id: int) -> set[Connection]:
        return set(self._local.of_user(user_id))

    def online_user_ids(self) -> list[int]:
        """Users with a connection here, or on any node as far as the bus told us;
        sorted, and a copy."""
        return self._presence.online_user_ids()

    async def call_presence(self, load: CallPresenceLoader) -> list[JSON]:
        """The call presence snapshot for a ready frame (:class:`CallPresenceCache`):
        kept only while this hub hears the bus."""
        return await self._call_presence.get(load, keep=self.healthy)

    # -- dispatch -----------------------------------------------------------------------

    def dispatch(self, topic: str, data: str) -> None:
        """Route one bus event (:mod:`chat.bus.topics`); the frame is never parsed."""
        channel_id = channel_id_of(topic)  # most events: no Topic built for them
        if channel_id is not None:
            members = self._local.in_channel(channel_id)
            if members:
                frame = Outgoing(data)
                for conn in tuple(members):
                    conn.offer(frame)
        else:
            self._route(parse_topic(topic), topic, data)

    def dispatch_batch(self, events: Sequence[BusEvent]) -> None:
        """:meth:`dispatch` ``events`` in order, writing each connection's share of a run
        of channel events with one socket write. When messages come faster than this
        listener runs (a busy channel's burst), the bus brings several at once: one
        system call per member for all of them rather than one a frame, which halved a
        1,000-member channel's CPU per delivery. Any other event first writes what is
        staged, so every connection still sees its frames in bus order."""
        if len(events) == 1:
            self.dispatch(events[0].topic, events[0].data)
            return
        staged: dict[Connection, list[Outgoing]] = {}
        in_channel = self._local.in_channel
        for event in events:
            channel_id = channel_id_of(event.topic)
            if channel_id is None:
                _write_staged(staged)
                self._route(parse_topic(event.topic), event.topic, event.data)
                continue
            members = in_channel(channel_id)
            if not members:
                continue
            frame = Outgoing(event.data)
            for conn in members:  # staging calls nothing: the set cannot change here
                frames = staged.get(conn)
                if frames is None:
                    staged[conn] = [frame]
                else:
                    frames.append(frame)
        _write_staged(staged)

    def _route(self, topic: Topic | None, name: str, data: str) -> None:
        """Any event but a channel's."""
        if topic is None:
            log.debug("ignoring bus topic %s", name)
            return
        kind = topic.kind
        if kind is TopicKind.USER:
            self._local.offer_to_user(topic.user_id, data)
        elif kind is TopicKind.JOINED:
            self._local.join(topic.user_id, topic.channel_id, data)
        elif kind is TopicKind.LEFT:
            self._local.leave(topic.user_id, topic.channel_id, data)
        elif kind is TopicKind.PRESENCE:
            self._presence.heard(data)
        elif kind is TopicKind.CALL_PRESENCE:
            self._call_presence.forget()
            self._local.offer_to_all(data)
        elif kind is TopicKind.EVERYONE:
            self._local.offer_to_all(data)
        elif kind is TopicKind.SESSIONS_REVOKED:
            self._close_sessions(data)
        elif kind is TopicKind.GAP:
            self._call_presence.forget()
            self._local.offer_to_all(RESYNC_REQUIRED)
            if self._metrics is not None:
                self._metrics.bus_gaps.inc()
        elif kind is TopicKind.PROBE:
            self._probe_heard(data)

    def _close_sessions(self, data: str) -> None:
        event = json.loads(data)
        ended = {int(i) for i in event["session_ids"]}
        reason = str(event.get("reason", "session ended"))[:100]
        for conn in tuple(self._local.all):
            if conn.session_id in ended:
                conn.request_close(CLOSE_SESSION_ENDED, reason)


def _write_staged(staged: dict[Connection, list[Outgoing]]) -> None:
    for conn, frames in staged.items():
        if len(frames) == 1:
            conn.offer(frames[0])
        else:
            conn.offer_many(frames)
    staged.clear()


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
