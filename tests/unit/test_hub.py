"""Connection registry and fanout (chat/hub/) over the in-process bus.

Most tests drive ``Hub.dispatch`` directly, as the listener does; the ``live_hub`` tests
start the listener so events make the full trip hub -> bus -> listener -> connections.
Each connection writes to a :class:`RecordingSocket`, which a test can jam (congested,
as a phone that stopped reading). Every frame a socket receives is validated against
the server frame schema. Time is a :class:`ManualClock`: a test moves it, never waits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from chat.bus import BusEvent
from chat.bus.memory import MemoryBus, MemorySubscription
from chat.bus.topics import (
    CALL_PRESENCE_TOPIC,
    GAP,
    PRESENCE_TOPIC,
    channel_topic,
    joined_topic,
    left_topic,
    user_topic,
)
from chat.frames import encode, validate_server_frame
from chat.hub import Connection, Hub
from chat.hub.connection import FRAMES_PER_WRITE
from chat.hub.fanout import RESYNC_REQUIRED
from chat.protocol import CLOSE_RESYNC
from chat.types import JSON
from tests.support import ManualClock
from tests.support.hub import (
    connection,
    decoded_frame,
    drain,
    joined_frame,
    left_frame,
    message_frame,
    socket_of,
)

WAIT = 2.0  # upper bound on any wait for the listener; tests normally finish in ms


# --- helpers -----------------------------------------------------------------------------


def presence_event(user_id: int, status: str, node: str) -> str:
    return json.dumps({"user_id": user_id, "status": status, "node": node})


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [f["message"]["seq"] for f in frames if f["type"] == "message"]


async def receive(conn: Connection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` frames for ``conn``, waiting (bounded) for the listener."""
    frames = []
    async with asyncio.timeout(WAIT):
        for _ in range(count):
            frames.append(decoded_frame(await socket_of(conn).written.get()))
    return frames


async def settle(hub: Hub, observer: Connection, channel_id: int) -> list[dict[str, Any]]:
    """Wait until the listener has dispatched everything published so far.

    Publishes a marker to ``channel_id`` (which ``observer`` is in) and waits for it: the
    bus keeps publish order, so everything before the marker has been dispatched. Returns
    the observer's frames before the marker.
    """
    await hub.bus.publish(channel_topic(channel_id), encode({"type": "pong", "ref": "marker"}))
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while True:
            frame = decoded_frame(await socket_of(observer).written.get())
            if frame == {"type": "pong", "ref": "marker"}:
                return frames
            frames.append(frame)


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus()
    yield bus
    await bus.close()


@pytest.fixture
def hub(bus: MemoryBus) -> Hub:
    """A hub whose listener is not running: the test calls ``dispatch`` itself.
    Presence is not coalesced here (see the test of the window)."""
    return Hub(bus, clock=ManualClock(), node_id="node-a", presence_window_seconds=0)


@pytest.fixture
async def live_hub(bus: MemoryBus) -> AsyncIterator[Hub]:
    hub = Hub(bus, clock=ManualClock(), node_id="node-a", presence_window_seconds=0)
    await hub.start()
    yield hub
    await hub.stop()


# --- Connection --------------------------------------------------------------------------


async def test_frames_go_straight_to_a_socket_that_keeps_up_in_order() -> None:
    conn = connection(1, 1, max_backlog=2)
    for seq in range(1, 6):  # more than the backlog holds: none of it is used
        conn.offer(message_frame(7, seq))
    assert seqs(drain(conn)) == [1, 2, 3, 4, 5]
    assert conn.close_requested is None


async def test_frames_wait_while_the_socket_is_congested_and_go_in_order_when_it_drains(
) -> None:
    conn = connection(1, 1, max_backlog=10, jammed=True)
    for seq in (1, 2, 3):
        conn.offer(message_frame(7, seq))
    assert drain(conn) == []
    socket_of(conn).jammed = False
    conn.offer(message_frame(7, 4))  # not ahead of the frames waiting
    assert drain(conn) == []
    conn.flush()  # what the transport's resume_writing calls
    assert seqs(drain(conn)) == [1, 2, 3, 4]
    conn.offer(message_frame(7, 5))
    assert seqs(drain(conn)) == [5]


async def test_frames_offered_before_the_ready_frame_go_first_when_the_connection_opens(
) -> None:
    conn = connection(1, 1, opened=False)
    conn.offer(message_frame(7, 1))
    assert drain(conn) == []
    conn.open()
    conn.offer(message_frame(7, 2))
    assert seqs(drain(conn)) == [1, 2]


async def test_an_overflowing_backlog_requests_close_for_resync_and_drops_frames() -> None:
    conn = connection(1, 1, max_backlog=2, jammed=True)
    woken = []
    conn.wake = lambda: woken.append(True)
    for seq in (1, 2, 3):
        conn.offer(message_frame(7, seq))
    assert conn.close_requested is not None
    assert conn.close_requested[0] == CLOSE_RESYNC == 4001
    assert woken == [True]
    assert conn.take_backlog() == []  # the client resyncs: nothing more goes out
    socket_of(conn).jammed = False
    conn.offer(message_frame(7, 4))
    conn.flush()
    assert drain(conn) == []


async def test_closing_takes_the_waiting_frames_in_order() -> None:
    conn = connection(1, 1, jammed=True)
    for seq in (1, 2):
        conn.offer(message_frame(7, seq))
    conn.request_close(4002, "revoked")
    conn.offer(message_frame(7, 3))  # after the request: dropped
    assert [decoded_frame(f)["message"]["seq"] for f in conn.take_backlog()] == [1, 2]


async def test_the_first_close_request_wins() -> None:
    conn = connection(1, 1, max_backlog=2)
    conn.request_close(4002, "revoked")
    conn.request_close(CLOSE_RESYNC, "too slow")
    assert conn.close_requested == (4002, "revoked")


# --- channel fanout ----------------------------------------------------------------------


async def test_a_stalled_connection_is_closed_for_resync_while_others_get_every_frame(
    hub: Hub,
) -> None:
    stalled = connection(1, 1, max_backlog=2, jammed=True)
    fast = connection(2, 2, max_backlog=2)
    await hub.register(stalled, [7])
    await hub.register(fast, [7])
    for seq in range(1, 11):
        hub.dispatch(channel_topic(7), message_frame(7, seq))
    assert stalled.close_requested is not None
    assert stalled.close_requested[0] == CLOSE_RESYNC
    assert drain(stalled) == []
    assert fast.close_requested is None
    assert seqs(drain(fast)) == list(range(1, 11))


async def test_channel_frames_reach_only_connections_in_that_channel(hub: Hub) -> None:
    in_7 = connection(1, 1, max_backlog=10)
    in_7_and_8 = connection(2, 2, max_backlog=10)
    in_8 = connection(3, 3, max_backlog=10)
    await hub.register(in_7, [7])
    await hub.register(in_7_and_8, [7, 8])
    await hub.register(in_8, [8])
    hub.dispatch(channel_topic(7), message_frame(7, 1))
    hub.dispatch(channel_topic(8), message_frame(8, 2))
    hub.dispatch(channel_topic(9), message_frame(9, 3))
    assert seqs(drain(in_7)) == [1]
    assert seqs(drain(in_7_and_8)) == [1, 2]
    assert seqs(drain(in_8)) == [2]


async def test_one_frame_is_made_per_event_and_written_to_every_recipient(hub: Hub) -> None:
    a, b = connection(1, 1), connection(2, 2)
    await hub.register(a, [7])
    await hub.register(b, [7])
    text = message_frame(7, 1, "全員へ")
    hub.dispatch(channel_topic(7), text)
    to_a, to_b = socket_of(a).written.get_nowait(), socket_of(b).written.get_nowait()
    assert to_a is to_b  # so the socket serialises it once (Outgoing.wire)
    assert to_a.text is text


async def test_a_bus_batch_reaches_each_socket_in_one_write_in_bus_order(hub: Hub) -> None:
    in_7_and_8, in_8 = connection(1, 1), connection(2, 2)
    await hub.register(in_7_and_8, [7, 8])
    await hub.register(in_8, [8])
    hub.dispatch_batch([BusEvent(channel_topic(7), message_frame(7, 1)),
                        BusEvent(channel_topic(8), message_frame(8, 2)),
                        BusEvent(channel_topic(9), message_frame(9, 3)),  # nobody here
                        BusEvent(channel_topic(7), message_frame(7, 4))])
    assert seqs(drain(in_7_and_8)) == [1, 2, 4]
    assert socket_of(in_7_and_8).writes == [3]
    assert seqs(drain(in_8)) == [2]
    assert socket_of(in_8).writes == [1]


async def test_a_long_run_is_written_a_bounded_number_of_frames_at_a_time(hub: Hub) -> None:
    keeping_up, filling = connection(1, 1), connection(2, 2)
    for conn in (keeping_up, filling):
        await hub.register(conn, [7])
    filled = socket_of(filling)
    filled.jam_after_a_write = True  # its buffer passes the high-water mark at once
    count = FRAMES_PER_WRITE + 4
    hub.dispatch_batch([BusEvent(channel_topic(7), message_frame(7, seq))
                        for seq in range(1, count + 1)])
    assert socket_of(keeping_up).writes == [FRAMES_PER_WRITE, 4]
    assert seqs(drain(keeping_up)) == list(range(1, count + 1))
    assert filled.writes == [FRAMES_PER_WRITE]  # the rest waits in the backlog
    filled.jammed = False
    filling.flush()
    assert seqs(drain(filling)) == list(range(1, count + 1))


async def test_any_other_event_in_a_batch_keeps_its_place(hub: Hub) -> None:
    conn = connection(5, 1)
    await hub.register(conn, [7])
    read = encode({"type": "read", "channel_id": 7, "user_id": 5, "seq": 1})
    hub.dispatch_batch([BusEvent(channel_topic(7), message_frame(7, 1)),
                        BusEvent(channel_topic(7), message_frame(7, 2)),
                        BusEvent(user_topic(5), read),
                        BusEvent(channel_topic(7), message_frame(7, 3)),
                        BusEvent(GAP, ""),
                        BusEvent(channel_topic(7), message_frame(7, 4))])
    assert [f["type"] for f in drain(conn)] == [
        "message", "message", "read", "message", "resync.required", "message"]
    assert socket_of(conn).writes == [2, 1, 1, 1, 1]


async def test_a_batch_waits_in_a_congested_sockets_backlog_and_overflow_closes_it(
    hub: Hub,
) -> None:
    jammed, small, keeping_up = (connection(1, 1, max_backlog=5, jammed=True),
                                 connection(2, 2, max_backlog=2, jammed=True),
                                 connection(3, 3))
    for conn in (jammed, small, keeping_up):
        await hub.register(conn, [7])
    hub.dispatch_batch([BusEvent(channel_topic(7), message_frame(7, seq)) for seq in (1, 2, 3)])
    assert drain(jammed) == drain(small) == []
    assert small.close_requested == (CLOSE_RESYNC, "too slow: reconnect and resync")
    assert jammed.close_requested is None
    assert seqs(drain(keeping_up)) == [1, 2, 3]
    socket_of(jammed).jammed = False
    jammed.flush()
    assert seqs(drain(jammed)) == [1, 2, 3]


async def test_an_unregistered_connection_gets_no_more_channel_frames(hub: Hub) -> None:
    gone, staying = connection(1, 1, max_backlog=10), connection(2, 2, max_backlog=10)
    await hub.register(gone, [7])
    await hub.register(staying, [7])
    await hub.unregister(gone)
    await hub.unregister(gone)  # twice is harmless
    hub.dispatch(channel_topic(7), message_frame(7, 1))
    assert drain(gone) == []
    assert seqs(drain(staying)) == [1]
    assert hub.connections == {staying}


async def test_unknown_topics_are_ignored(hub: Hub) -> None:
    conn = connection(1, 1, max_backlog=10)
    await hub.register(conn, [7])
    hub.dispatch("weather:tokyo", "{}")
    hub.dispatch("channel:seven", message_frame(7, 1))  # malformed: not channel 7
    hub.dispatch(user_topic(999), message_frame(7, 1))  # nobody here
    assert drain(conn) == []


# --- user topics -------------------------------------------------------------------------


async def test_user_frames_reach_every_connection_of_that_user_only(hub: Hub) -> None:
    phone, desk = connection(5, 1, max_backlog=10), connection(5, 2, max_backlog=10)
    other = connection(6, 3, max_backlog=10)
    for conn in (phone, desk, other):
        await hub.register(conn, [])
    hub.dispatch(user_topic(5), encode({"type": "read", "channel_id": 7, "user_id": 5, "seq": 3}))
    assert [f["type"] for f in drain(phone)] == ["read"]
    assert [f["type"] for f in drain(desk)] == ["read"]
    assert drain(other) == []


async def test_channel_joined_subscribes_the_user_so_later_channel_frames_arrive(
    hub: Hub,
) -> None:
    phone, desk = connection(5, 1, max_backlog=10), connection(5, 2, max_backlog=10)
    await hub.register(phone, [1])
    await hub.register(desk, [1])
    hub.dispatch(channel_topic(9), message_frame(9, 1))  # before joining: not delivered
    hub.dispatch(joined_topic(5, 9), joined_frame(9))
    hub.dispatch(channel_topic(9), message_frame(9, 2))
    for conn in (phone, desk):
        frames = drain(conn)
        assert [f["type"] for f in frames] == ["channel.joined", "message"]
        assert seqs(frames) == [2]
        assert conn.channel_ids == {1, 9}


async def test_channel_left_unsubscribes_the_user(hub: Hub) -> None:
    leaver, stayer = connection(5, 1, max_backlog=10), connection(6, 2, max_backlog=10)
    await hub.register(leaver, [9, 10])
    await hub.register(stayer, [9])
    hub.dispatch(left_topic(5, 9), left_frame(9))
    hub.dispatch(channel_topic(9), message_frame(9, 1))
    hub.dispatch(channel_topic(10), message_frame(10, 2))
    frames = drain(leaver)
    assert [f["type"] for f in frames] == ["channel.left", "message"]
    assert seqs(frames) == [2]
    assert leaver.channel_ids == {10}
    assert seqs(drain(stayer)) == [1]


async def test_leaving_the_last_subscriber_of_a_channel_then_rejoining_works(
    hub: Hub,
) -> None:
    conn = connection(5, 1, max_backlog=10)
    await hub.register(conn, [9])
    hub.dispatch(left_topic(5, 9), left_frame(9))
    hub.dispatch(joined_topic(5, 9), joined_frame(9))
    hub.dispatch(channel_topic(9), message_frame(9, 1))
    assert seqs(drain(conn)) == [1]


async def test_membership_follows_its_topic_never_a_frame_on_a_user_topic(hub: Hub) -> None:
    """The hub routes by topic alone: a channel.joined frame sent to a person's topic is
    written as it is, and subscribes them to nothing."""
    conn = connection(5, 1, max_backlog=10)
    await hub.register(conn, [1])
    hub.dispatch(user_topic(5), joined_frame(9))
    hub.dispatch(channel_topic(9), message_frame(9, 1))
    assert [f["type"] for f in drain(conn)] == ["channel.joined"]
    assert conn.channel_ids == {1}


async def test_a_membership_change_for_someone_not_here_changes_nothing(hub: Hub) -> None:
    conn = connection(5, 1, max_backlog=10)
    await hub.register(conn, [9])
    hub.dispatch(joined_topic(6, 9), joined_frame(9))
    hub.dispatch(left_topic(6, 9), left_frame(9))
    hub.dispatch(channel_topic(9), message_frame(9, 1))
    assert seqs(drain(conn)) == [1]


# --- gaps --------------------------------------------------------------------------------


async def test_a_bus_gap_tells_every_connection_to_resync(hub: Hub) -> None:
    a, b = connection(1, 1, max_backlog=10), connection(2, 2, max_backlog=10)
    await hub.register(a, [7])
    await hub.register(b, [])
    hub.dispatch(GAP, "")
    for conn in (a, b):
        assert drain(conn) == [json.loads(RESYNC_REQUIRED)]
    assert json.loads(RESYNC_REQUIRED)["type"] == "resync.required"


async def test_events_lost_on_the_bus_make_every_connection_resync() -> None:
    bus = MemoryBus(queue_size=2)
    hub = Hub(bus, clock=ManualClock(), node_id="node-a")
    conn = connection(1, 1, max_backlog=100)
    await hub.register(conn, [7])  # before start: its presence event is not heard
    await hub.start()
    try:
        for seq in range(1, 6):  # publish does not yield: the hub's queue overflows
            await bus.publish(channel_topic(7), message_frame(7, seq))
        frames = await receive(conn, 3)
        assert [f["type"] for f in frames] == ["message", "message", "resync.required"]
        assert seqs(frames) == [1, 2]
        # The listener carries on after the gap.
        await bus.publish(channel_topic(7), message_frame(7, 6))
        assert seqs(await receive(conn, 1)) == [6]
        assert drain(conn) == []
    finally:
        await hub.stop()
        await bus.close()


# --- presence ----------------------------------------------------------------------------


async def test_presence_goes_online_with_the_first_connection_and_offline_with_the_last(
    live_hub: Hub,
) -> None:
    observer = connection(100, 100, max_backlog=100)
    await live_hub.register(observer, [999])
    assert await settle(live_hub, observer, 999) == [
        {"type": "presence", "user_id": 100, "status": "online"}]

    phone = connection(1, 1, max_backlog=100)
    await live_hub.register(phone, [])
    assert await settle(live_hub, observer, 999) == [
        {"type": "presence", "user_id": 1, "status": "online"}]
    assert drain(phone) == [{"type": "presence", "user_id": 1, "status": "online"}]
    assert live_hub.online_user_ids() == [1, 100]

    desk = connection(1, 2, max_backlog=100)
    await live_hub.register(desk, [])
    assert await settle(live_hub, observer, 999) == []  # already online

    await live_hub.unregister(desk)
    assert await settle(live_hub, observer, 999) == []  # still online on the phone
    assert live_hub.online_user_ids() == [1, 100]

    await live_hub.unregister(phone)
    assert await settle(live_hub, observer, 999) == [
        {"type": "presence", "user_id": 1, "status": "offline"}]
    assert drain(phone) == []
    assert live_hub.online_user_ids() == [100]


async def test_a_burst_of_presence_changes_goes_out_as_one_frame(bus: MemoryBus) -> None:
    """8:30 on a Monday: the first change goes out at once, the rest of the window's
    changes together at its end (last state wins), not one frame per person."""
    clock = ManualClock()
    hub = Hub(bus, clock=clock, node_id="node-a", presence_window_seconds=0.05)
    watcher = connection(100, 100, max_backlog=100)
    await hub.register(watcher, [])
    hub.dispatch(PRESENCE_TOPIC, presence_event(1, "online", "node-b"))
    assert drain(watcher) == [{"type": "presence", "user_id": 1, "status": "online"}]
    for user_id in range(2, 50):
        hub.dispatch(PRESENCE_TOPIC, presence_event(user_id, "online", "node-b"))
    hub.dispatch(PRESENCE_TOPIC, presence_event(7, "offline", "node-b"))
    hub.dispatch(PRESENCE_TOPIC, presence_event(1, "offline", "node-b"))
    clock.advance(0.04)
    assert drain(watcher) == []
    clock.advance(0.02)
    batch = drain(watcher)
    assert batch == [{"type": "presence.batch",
                      "online": [u for u in range(2, 50) if u != 7], "offline": [1, 7]}]
    validate_server_frame(batch[0])
    # A lone change in the next window still travels alone.
    hub.dispatch(PRESENCE_TOPIC, presence_event(60, "online", "node-b"))
    assert drain(watcher) == []
    clock.advance(0.06)
    assert drain(watcher) == [{"type": "presence", "user_id": 60, "status": "online"}]
    assert 60 in hub.online_user_ids() and 7 not in hub.online_user_ids()
    await hub.stop()


async def test_a_user_is_online_while_connected_to_any_node(hub: Hub) -> None:
    watcher = connection(100, 100, max_backlog=100)
    await hub.register(watcher, [])
    hub.dispatch(PRESENCE_TOPIC, presence_event(5, "online", "node-b"))
    hub.dispatch(PRESENCE_TOPIC, presence_event(5, "online", "node-c"))
    assert drain(watcher) == [{"type": "presence", "user_id": 5, "status": "online"}]
    assert 5 in hub.online_user_ids()

    hub.dispatch(PRESENCE_TOPIC, presence_event(5, "offline", "node-b"))
    assert drain(watcher) == []
    assert 5 in hub.online_user_ids()

    hub.dispatch(PRESENCE_TOPIC, presence_event(5, "offline", "node-c"))
    assert drain(watcher) == [{"type": "presence", "user_id": 5, "status": "offline"}]
    assert 5 not in hub.online_user_ids()


async def test_the_online_list_stays_sorted_as_people_come_and_go_here_and_elsewhere(
        hub: Hub) -> None:
    here = connection(30, 1)
    await hub.register(here, [])
    for user_id in (50, 10, 40):
        hub.dispatch(PRESENCE_TOPIC, presence_event(user_id, "online", "node-b"))
    hub.dispatch(PRESENCE_TOPIC, presence_event(30, "online", "node-b"))  # also there
    assert hub.online_user_ids() == [10, 30, 40, 50]
    hub.dispatch(PRESENCE_TOPIC, presence_event(30, "offline", "node-b"))
    hub.dispatch(PRESENCE_TOPIC, presence_event(40, "offline", "node-b"))
    assert hub.online_user_ids() == [10, 30, 50]  # 30 is still connected here
    await hub.unregister(here)
    assert hub.online_user_ids() == [10, 50]
    listed = hub.online_user_ids()
    listed.append(99)  # a copy: the caller may keep it
    assert hub.online_user_ids() == [10, 50]


async def test_connections_of_lists_a_users_local_connections(hub: Hub) -> None:
    phone, desk = connection(5, 1, max_backlog=10), connection(5, 2, max_backlog=10)
    await hub.register(phone, [])
    await hub.register(desk, [])
    assert hub.connections_of(5) == {phone, desk}
    assert hub.connections_of(6) == set()
    await hub.unregister(phone)
    assert hub.connections_of(5) == {desk}


# --- the listener ------------------------------------------------------------------------


async def test_channel_frames_published_on_the_bus_reach_local_connections(
    live_hub: Hub,
) -> None:
    conn = connection(1, 1, max_backlog=100)
    await live_hub.register(conn, [7])
    for seq in (1, 2, 3):
        await live_hub.bus.publish(channel_topic(7), message_frame(7, seq))
    frames = await settle(live_hub, conn, 7)
    assert frames[0] == {"type": "presence", "user_id": 1, "status": "online"}
    assert seqs(frames) == [1, 2, 3]
    assert live_hub.healthy


class _BrokenSubscription:
    def batches(self) -> _BrokenSubscription:
        return self

    async def __anext__(self) -> list[BusEvent]:
        raise ConnectionError("bus connection lost")

    async def close(self) -> None:
        return None


class _BusThatFailsOnce(MemoryBus):
    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    async def subscribe(self) -> MemorySubscription:
        if self.failures_left:
            self.failures_left -= 1
            return _BrokenSubscription()  # type: ignore[return-value]
        return await super().subscribe()


async def test_the_listener_writes_what_arrived_together_with_one_write(
    live_hub: Hub,
) -> None:
    conn = connection(1, 1, max_backlog=100)
    await live_hub.register(conn, [7])
    await settle(live_hub, conn, 7)  # its presence frame
    socket_of(conn).writes.clear()
    await live_hub.bus.publish_many([(channel_topic(7), message_frame(7, seq))
                                     for seq in (1, 2, 3)])
    assert seqs(await settle(live_hub, conn, 7)) == [1, 2, 3]
    # Published without the listener running in between: one list, one write (with the
    # settle marker behind them).
    assert socket_of(conn).writes == [4]


async def test_a_failed_bus_listener_resubscribes_loudly_and_tells_clients_to_resync(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = _BusThatFailsOnce()
    hub = Hub(bus, clock=ManualClock(), node_id="node-a")
    conn = connection(1, 1, max_backlog=100)
    await hub.register(conn, [7])
    caplog.set_level(logging.CRITICAL, logger="chat.hub")
    await hub.start()
    try:
        assert await receive(conn, 1) == [json.loads(RESYNC_REQUIRED)]
        assert hub.healthy
        assert any(r.levelno == logging.CRITICAL for r in caplog.records)
        await bus.publish(channel_topic(7), message_frame(7, 1))
        assert seqs(await receive(conn, 1)) == [1]
    finally:
        await hub.stop()
        await bus.close()


# --- the call presence snapshot ------------------------------------------------------------


class PresenceTable:
    """Stands in for the database the snapshot is read from: its rows and how often it
    was read. ``during_read`` runs inside a read, as an event arriving meanwhile would."""

    def __init__(self, lapses_in: float = math.inf) -> None:
        self.rows: list[JSON] = [{"user_id": 7, "status": "ringing"}]
        self.lapses_in = lapses_in
        self.reads = 0
        self.during_read: Callable[[], None] | None = None

    async def load(self) -> tuple[list[JSON], float]:
        self.reads += 1
        rows = list(self.rows)
        await asyncio.sleep(0)  # a read yields to the loop, as a database's does
        if self.during_read is not None:
            self.during_read()
            self.during_read = None
        return rows, self.lapses_in


def call_presence_frame(user_id: int, status: str) -> str:
    return encode({"type": "call.presence", "user_id": user_id, "status": status})


async def test_connects_share_one_call_presence_read_until_an_event_passes(
        live_hub: Hub) -> None:
    table = PresenceTable()
    observer = connection(100, 100)
    await live_hub.register(observer, [999])
    await settle(live_hub, observer, 999)
    assert await live_hub.call_presence(table.load) == table.rows
    assert await live_hub.call_presence(table.load) == table.rows
    assert table.reads == 1
    # The call is answered: the event reaches everyone connected, and the next connect
    # reads what the database now holds.
    table.rows = [{"user_id": 7, "status": "on_call"}]
    await live_hub.bus.publish(CALL_PRESENCE_TOPIC, call_presence_frame(7, "on_call"))
    assert [f["type"] for f in await settle(live_hub, observer, 999)] == ["call.presence"]
    assert await live_hub.call_presence(table.load) == [{"user_id": 7, "status": "on_call"}]
    assert table.reads == 2
    # Events lost on the bus: nothing kept is trusted.
    live_hub.dispatch(GAP, "")
    assert await live_hub.call_presence(table.load) == table.rows
    assert table.reads == 3
    assert await live_hub.call_presence(table.load) == table.rows
    assert table.reads == 3


async def test_a_read_that_an_event_overtook_is_used_once_not_kept(live_hub: Hub) -> None:
    table = PresenceTable()
    table.during_read = lambda: live_hub.dispatch(CALL_PRESENCE_TOPIC,
                                                  call_presence_frame(7, "idle"))
    await live_hub.call_presence(table.load)
    await live_hub.call_presence(table.load)
    assert table.reads == 2


async def test_a_snapshot_is_not_kept_past_its_first_lapse_or_its_age(bus: MemoryBus) -> None:
    clock = ManualClock()
    hub = Hub(bus, clock=clock, node_id="node-a", call_presence_max_age_seconds=60)
    await hub.start()
    try:
        ringing = PresenceTable(lapses_in=0.05)  # the ringing times out with no event
        await hub.call_presence(ringing.load)
        clock.advance(0.04)
        await hub.call_presence(ringing.load)
        assert ringing.reads == 1
        clock.advance(0.02)
        await hub.call_presence(ringing.load)
        assert ringing.reads == 2
    finally:
        await hub.stop()
    aged = Hub(bus, clock=clock, node_id="node-b", call_presence_max_age_seconds=0.05)
    await aged.start()
    try:
        quiet = PresenceTable()  # nothing lapses, nothing happens
        await aged.call_presence(quiet.load)
        clock.advance(0.04)
        await aged.call_presence(quiet.load)
        assert quiet.reads == 1
        clock.advance(0.02)
        await aged.call_presence(quiet.load)
        assert quiet.reads == 2
    finally:
        await aged.stop()


async def test_a_hub_without_its_bus_keeps_no_snapshot(hub: Hub) -> None:
    table = PresenceTable()
    assert not hub.healthy  # never started: it would not hear the events
    await hub.call_presence(table.load)
    await hub.call_presence(table.load)
    assert table.reads == 2
