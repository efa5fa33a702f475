"""Connection registry and fanout for this node.

The hub holds only local connections. It listens to the bus (which carries events from
every node, this one included) and writes each already-encoded frame to every local
connection that should see it, straight from its dispatch loop: the frame is wrapped
once (:class:`Outgoing`) and its websocket bytes serialised once for all recipients.
Events that arrive together go out together: one socket write for each connection's
share (:meth:`Hub.dispatch_batch`). Writing never waits. A connection whose socket is
congested keeps frames in a bounded backlog until the socket drains; when that
overflows, the connection is closed with CLOSE_RESYNC and resyncs when it reconnects,
so one stalled phone never delays anyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from chat.bus import GAP, Bus, BusEvent, Subscription
from chat.frames import encode
from chat.protocol import CLOSE_RESYNC, CLOSE_SESSION_ENDED
from chat.types import JSON

log = logging.getLogger(__name__)

PRESENCE_TOPIC = "presence"
# Ready-to-send ``call.presence`` frames (chat.actions.pbx): a call rings at, or is on,
# a person's extension. Sent to every connection, like presence; the database holds the
# state. A new connection's ready frame reads it there, through a snapshot the hub
# shares between connects until one of these events passes (Hub.call_presence).
CALL_PRESENCE_TOPIC = "call.presence"
# Published by chat.actions.sessions; kept here as a literal so the hub does not import
# the actions layer.
SESSIONS_REVOKED_TOPIC = "sessions.revoked"
# At most this many frames in one socket write (Connection.offer_many).
FRAMES_PER_WRITE = 16
RESYNC_REQUIRED = encode({"type": "resync.required", "reason": "events may have been lost"})

# user id -> {channel id -> channel as in the ready frame}, or None for an inactive user.
MembershipSource = Callable[[Sequence[int]], Awaitable[dict[int, dict[int, JSON] | None]]]
# (previous watermark or None) -> ([(session id, reason)] revoked lately, next watermark).
RevocationSource = Callable[[datetime | None],
                            Awaitable[tuple[list[tuple[int, str | None]], datetime]]]
# Reads the call presence snapshot: (what the ready frame carries, seconds until a call in
# it lapses by time alone).
CallPresenceLoader = Callable[[], Awaitable[tuple[list[JSON], float]]]


class Outgoing:
    """One encoded server frame on its way to any number of connections. The first
    socket that writes it serialises it into ``wire``; the others write the same bytes."""

    __slots__ = ("text", "wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self.wire: bytes | None = None


class FrameSink(Protocol):
    """The socket end of a connection (``chat.web.transport.WebSocketProtocol``)."""

    def congested(self) -> bool:
        """True while the socket's buffer is over its high-water mark: write later."""
        ...

    def write_frame(self, frame: Outgoing) -> None:
        """Write now, never waiting; a socket that is closing drops the frame."""
        ...

    def write_frames(self, frames: Sequence[Outgoing]) -> None:
        """:meth:`write_frame` each of ``frames``, in order, with one socket write."""
        ...


class Connection:
    """The outgoing side of one websocket.

    Until :meth:`open` (the session sends its ``ready`` frame first) and whenever the
    socket is congested, frames wait in a backlog of at most ``max_backlog``; otherwise
    they are written at once. Overflow requests a close for resync (CLOSE_RESYNC) and
    drops the backlog: the client reconnects and resyncs from its last seq. Order is
    kept: nothing is written past a non-empty backlog.

    ``wake`` is called when a close is requested, so the session can act on it; the
    session owns closing the socket.
    """

    __slots__ = ("_backlog", "_max_backlog", "_open", "channel_ids", "close_requested",
                 "session_id", "sink", "user_id", "wake")

    def __init__(self, user_id: int, session_id: int, *, max_backlog: int,
                 sink: FrameSink | None = None) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.channel_ids: set[int] = set()
        self.close_requested: tuple[int, str] | None = None
        self.sink = sink
        self.wake: Callable[[], None] | None = None
        # Made on first need: most connections are idle and never hold a backlog.
        self._backlog: deque[Outgoing] | None = None
        self._max_backlog = max_backlog
        self._open = False

    def offer(self, frame: Outgoing | str) -> None:
        """Write ``frame`` or keep it for later, without waiting; overflow closes the
        connection for resync."""
        if self.close_requested is not None:
            return
        if isinstance(frame, str):
            frame = Outgoing(frame)
        backlog = self._backlog
        if backlog is None:
            sink = self.sink
            if self._open and sink is not None and not sink.congested():
                sink.write_frame(frame)
                return
            backlog = self._backlog = deque()
        if len(backlog) >= self._max_backlog:
            self._backlog = None
            self.request_close(CLOSE_RESYNC, "too slow: reconnect and resync")
            return
        backlog.append(frame)

    def offer_many(self, frames: Sequence[Outgoing]) -> None:
        """:meth:`offer` each of ``frames``, in order, written :data:`FRAMES_PER_WRITE`
        at a time while the socket takes them: a system call per frame was most of a
        fanout's cost. The socket's buffer passes its high-water mark by at most one
        such write, as it did by one frame before; the rest waits in the backlog."""
        sink, at = self.sink, 0
        while at < len(frames) and (
                self.close_requested is None and self._backlog is None and self._open
                and sink is not None and not sink.congested()):
            sink.write_frames(frames[at:at + FRAMES_PER_WRITE])
            at += FRAMES_PER_WRITE
        for frame in frames[at:]:
            self.offer(frame)

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        """Start writing: what was offered meanwhile goes first."""
        self._open = True
        self.flush()

    def flush(self) -> None:
        """Write the backlog while the socket takes it (called again when it drains)."""
        backlog, sink = self._backlog, self.sink
        if backlog is None or not self._open or sink is None:
            return
        if self.close_requested is not None:
            return
        while backlog and not sink.congested():
            sink.write_frame(backlog.popleft())
        if not backlog:
            self._backlog = None

    def take_backlog(self) -> list[Outgoing]:
        """Remove and return every frame waiting (closing: they go before the close)."""
        backlog, self._backlog = self._backlog, None
        return list(backlog) if backlog else []

    def request_close(self, code: int, reason: str) -> None:
        if self.close_requested is None:
            self.close_requested = (code, reason)
            if self.wake is not None:
                self.wake()


class Hub:
    def __init__(self, bus: Bus, *, node_id: str,
                 memberships: MembershipSource | None = None,
                 reconcile_seconds: float = 30.0,
                 revocations: RevocationSource | None = None,
                 revocation_sweep_seconds: float = 1.0,
                 presence_window_seconds: float = 0.5,
                 call_presence_max_age_seconds: float = 1.0) -> None:
        self.bus = bus
        self.node_id = node_id
        self._memberships = memberships
        self._reconcile_seconds = reconcile_seconds
        self._reconciler: asyncio.Task[None] | None = None
        self._revocations = revocations
        self._revocation_sweep_seconds = revocation_sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None
        self.connections: set[Connection] = set()
        self._by_channel: dict[int, set[Connection]] = defaultdict(set)
        # Tuples, not sets: nearly everyone has one or two connections and one node, and
        # a set costs 216 bytes a user.
        self._by_user: dict[int, tuple[Connection, ...]] = {}
        # user id -> nodes where that user has at least one connection (from the bus).
        self._presence: dict[int, tuple[str, ...]] = {}
        # Who is online (here or on any node), kept sorted as users come and go: every
        # ready frame carries it, and rebuilding it per connect costs O(N log N).
        self._online: list[int] = []
        # Presence changes are coalesced: the first after a quiet spell goes out at once,
        # the rest of the window's changes go out together at its end (last state wins).
        # 8:30 on a Monday, N people connecting would otherwise cost N² frames.
        self._presence_window = presence_window_seconds
        self._presence_pending: dict[int, str] = {}
        self._presence_timer: asyncio.TimerHandle | None = None
        # Bumped on every live join/leave of a user, so reconcile can tell its database
        # snapshot went stale while it was being read.
        self._membership_epoch: dict[int, int] = defaultdict(int)
        # The call presence snapshot shared by connects: (snapshot, monotonic time it
        # stops being used). Bumping the generation drops it, and a read that was under
        # way meanwhile is not kept.
        self._call_presence: tuple[list[JSON], float] | None = None
        self._call_presence_generation = 0
        self._call_presence_max_age = call_presence_max_age_seconds
        self._task: asyncio.Task[None] | None = None
        self._subscription: Subscription | None = None
        self.healthy = False

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self._subscription = await self.bus.subscribe()
        self.healthy = True
        self._task = asyncio.create_task(self._listen(), name="hub-listener")
        if self._memberships is not None:
            self._reconciler = asyncio.create_task(self._reconcile_forever(),
                                                   name="hub-reconciler")
        if self._revocations is not None:
            self._sweeper = asyncio.create_task(self._sweep_revocations_forever(),
                                                name="hub-revocation-sweep")

    async def stop(self) -> None:
        if self._presence_timer is not None:
            self._presence_timer.cancel()
            self._presence_timer = None
        await _cancel(self._sweeper)
        await _cancel(self._reconciler)
        if self._subscription is not None:
            await self._subscription.close()
        await _cancel(self._task)

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
                self._forget_call_presence()
                log.critical("hub bus listener failed; resubscribing", exc_info=True)
                await asyncio.sleep(0.5)
                try:
                    self._subscription = await self.bus.subscribe()
                    self.healthy = True
                except Exception:
                    log.critical("hub could not resubscribe", exc_info=True)
                    continue
                self._offer_all(RESYNC_REQUIRED)

    async def _sweep_revocations_forever(self) -> None:
        """Close connections of sessions revoked anywhere, within a second.

        The ``sessions.revoked`` bus event normally does this at once; but the bus is lossy
        by contract, and a CLI beside a node on the in-process bus cannot reach it at all.
        So each node also asks the database, every second, which sessions were revoked
        lately (an indexed range on ``revoked_at``; looking back a few seconds covers
        commit delay and clock skew between writers)."""
        assert self._revocations is not None
        since: datetime | None = None
        while True:
            await asyncio.sleep(self._revocation_sweep_seconds)
            try:
                since = await self.sweep_revocations(since)
            except Exception:
                log.exception("revocation sweep failed")

    async def sweep_revocations(self, since: datetime | None) -> datetime | None:
        """One sweep; returns the watermark for the next. A node with no connections
        asks nothing (the next sweep then looks back from its own time: a connection
        opened meanwhile authenticated against the database already)."""
        assert self._revocations is not None
        if not self.connections:
            return None
        revoked, watermark = await self._revocations(since)
        if revoked:
            reasons = dict(revoked)
            for conn in tuple(self.connections):
                if conn.session_id in reasons:
                    conn.request_close(CLOSE_SESSION_ENDED,
                                       (reasons[conn.session_id] or "session ended")[:100])
        return watermark

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(self._reconcile_seconds)
            try:
                await self.reconcile()
            except Exception:
                log.exception("membership reconciliation failed")

    async def reconcile(self) -> None:
        """Align every local connection with the database: drop channels the user left
        and add ones they joined, and end the connections of deactivated users.

        Membership changes normally arrive as bus events; this catches what the bus could
        not carry (a CLI import beside a node with the in-process bus, a lost event), so
        a person moved out of a department stops receiving it within one interval."""
        assert self._memberships is not None
        user_ids = sorted(self._by_user)
        if not user_ids:
            return
        epochs = {u: self._membership_epoch.get(u, 0) for u in user_ids}
        current = await self._memberships(user_ids)
        for user_id in user_ids:
            if self._membership_epoch.get(user_id, 0) != epochs[user_id]:
                # A live join/leave landed while we read: our snapshot may predate it.
                continue
            channels = current.get(user_id)
            conns = self._by_user.get(user_id, ())
            if channels is None:
                for conn in conns:
                    conn.request_close(CLOSE_SESSION_ENDED, "account disabled")
                continue
            if not conns:
                continue
            in_any = set().union(*(c.channel_ids for c in conns))
            in_all = set.intersection(*(c.channel_ids for c in conns))
            for channel_id in sorted(in_any - channels.keys()):
                self._dispatch_to_user(user_id, encode(
                    {"type": "channel.left", "channel_id": channel_id}))
            for channel_id in sorted(channels.keys() - in_all):
                self._dispatch_to_user(user_id, encode(
                    {"type": "channel.joined", "channel": channels[channel_id]}))

    # -- registry -----------------------------------------------------------------------

    async def register(self, conn: Connection, channel_ids: Iterable[int]) -> None:
        conn.channel_ids = set(channel_ids)
        self.connections.add(conn)
        for channel_id in conn.channel_ids:
            self._by_channel[channel_id].add(conn)
        mine = self._by_user.get(conn.user_id, ())
        self._by_user[conn.user_id] = (*mine, conn)
        self._update_online(conn.user_id)
        if not mine:
            await self._announce_presence(conn.user_id, "online")

    async def unregister(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        for channel_id in conn.channel_ids:
            members = self._by_channel.get(channel_id)
            if members is not None:
                members.discard(conn)
                if not members:
                    del self._by_channel[channel_id]
        mine = tuple(c for c in self._by_user.get(conn.user_id, ()) if c is not conn)
        if mine:
            self._by_user[conn.user_id] = mine
        elif self._by_user.pop(conn.user_id, None) is not None:
            self._update_online(conn.user_id)
            await self._announce_presence(conn.user_id, "offline")

    async def call_presence(self, load: CallPresenceLoader) -> list[JSON]:
        """The call presence snapshot for a ready frame, read by ``load`` and shared by
        the connects that follow: at 8:30, or after a network cut, hundreds of phones
        connect within seconds and each would read the same rows.

        A kept snapshot is dropped when a ``call.presence`` event or a GAP passes through
        this hub (the event reaches every connection registered by then, and whoever
        connects later reads afresh), when a call in it lapses by time (the sweep's
        event may come later), and after ``call_presence_max_age_seconds`` whatever
        happens. A read that such an event overtook is used once, not kept."""
        kept = self._call_presence
        if kept is not None and asyncio.get_running_loop().time() < kept[1]:
            return kept[0]
        generation = self._call_presence_generation
        snapshot, lapses_in = await load()
        if generation == self._call_presence_generation and self.healthy:
            fresh_for = min(lapses_in, self._call_presence_max_age)
            self._call_presence = (snapshot, asyncio.get_running_loop().time() + fresh_for)
        return snapshot

    def _forget_call_presence(self) -> None:
        self._call_presence = None
        self._call_presence_generation += 1

    def online_user_ids(self) -> list[int]:
        """Users with a connection here, or on any node as far as the bus told us;
        sorted, and a copy."""
        return list(self._online)

    def _update_online(self, user_id: int) -> None:
        online = user_id in self._by_user or user_id in self._presence
        at = bisect_left(self._online, user_id)
        listed = at < len(self._online) and self._online[at] == user_id
        if online and not listed:
            self._online.insert(at, user_id)
        elif listed and not online:
            del self._online[at]

    def connections_of(self, user_id: int) -> set[Connection]:
        return set(self._by_user.get(user_id, ()))

    async def _announce_presence(self, user_id: int, status: str) -> None:
        try:
            await self.bus.publish(PRESENCE_TOPIC, json.dumps(
                {"user_id": user_id, "status": status, "node": self.node_id}))
        except Exception:
            log.exception("could not publish presence")

    # -- dispatch -----------------------------------------------------------------------

    def dispatch(self, topic: str, data: str) -> None:
        kind, _, ident = topic.partition(":")
        if kind == "channel":
            members = self._by_channel.get(int(ident))
            if members:
                frame = Outgoing(data)
                for conn in tuple(members):
                    conn.offer(frame)
        elif kind == "user":
            self._dispatch_to_user(int(ident), data)
        elif topic == PRESENCE_TOPIC:
            self._dispatch_presence(data)
        elif topic == CALL_PRESENCE_TOPIC:
            self._forget_call_presence()
            self._offer_all(data)
        elif topic == SESSIONS_REVOKED_TOPIC:
            self._close_sessions(data)
        elif topic == GAP:
            self._forget_call_presence()
            self._offer_all(RESYNC_REQUIRED)
        else:
            log.debug("ignoring bus topic %s", topic)

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
        for event in events:
            kind, _, ident = event.topic.partition(":")
            if kind != "channel":
                _write_staged(staged)
                self.dispatch(event.topic, event.data)
                continue
            members = self._by_channel.get(int(ident))
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

    def _dispatch_to_user(self, user_id: int, data: str) -> None:
        conns = self._by_user.get(user_id, ())
        if not conns:
            return
        frame = json.loads(data)
        if frame.get("type") in {"channel.joined", "channel.left"}:
            self._membership_epoch[user_id] += 1
        if frame.get("type") == "channel.joined":
            channel_id = int(frame["channel"]["id"])
            for conn in conns:
                conn.channel_ids.add(channel_id)
                self._by_channel[channel_id].add(conn)
        elif frame.get("type") == "channel.left":
            channel_id = int(frame["channel_id"])
            for conn in conns:
                conn.channel_ids.discard(channel_id)
                members = self._by_channel.get(channel_id)
                if members is not None:
                    members.discard(conn)
                    if not members:
                        del self._by_channel[channel_id]
        frame = Outgoing(data)
        for conn in conns:
            conn.offer(frame)

    def _dispatch_presence(self, data: str) -> None:
        event = json.loads(data)
        user_id, node = int(event["user_id"]), str(event["node"])
        before = self._presence.get(user_id, ())
        nodes = tuple(n for n in before if n != node)
        if event["status"] == "online":
            nodes += (node,)
        was_online = bool(before)
        if nodes:
            self._presence[user_id] = nodes
        else:
            self._presence.pop(user_id, None)
        self._update_online(user_id)
        if bool(nodes) != was_online:
            self._presence_changed(user_id, "online" if nodes else "offline")

    def _presence_changed(self, user_id: int, status: str) -> None:
        if self._presence_timer is not None:
            self._presence_pending[user_id] = status
            return
        self._offer_all(encode({"type": "presence", "user_id": user_id, "status": status}))
        self._open_presence_window()

    def _open_presence_window(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:        # no loop (a synchronous caller): nothing to coalesce
            return
        if self._presence_window > 0:
            self._presence_timer = loop.call_later(self._presence_window,
                                                   self._flush_presence)

    def _flush_presence(self) -> None:
        """The window's changes in one frame; the window stays open while busy."""
        self._presence_timer = None
        pending, self._presence_pending = self._presence_pending, {}
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
        self._open_presence_window()

    def _close_sessions(self, data: str) -> None:
        event = json.loads(data)
        ended = {int(i) for i in event["session_ids"]}
        reason = str(event.get("reason", "session ended"))[:100]
        for conn in tuple(self.connections):
            if conn.session_id in ended:
                conn.request_close(CLOSE_SESSION_ENDED, reason)

    def _offer_all(self, text: str) -> None:
        frame = Outgoing(text)
        for conn in tuple(self.connections):
            conn.offer(frame)


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
