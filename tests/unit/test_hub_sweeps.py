"""What the hub catches up from the database (chat/hub/sweeps.py): revoked sessions and
changed memberships, against stand-ins for the database's answers."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from chat.hub.registry import LocalConnections
from chat.hub.sweeps import REVOCATION_LOOKBACK, MembershipReconcile, RevocationSweep
from chat.protocol import CLOSE_SESSION_ENDED
from chat.types import JSON
from tests.support import ManualClock
from tests.support.hub import connection, drain, joined_frame


class RevokedSessions:
    """Stands in for ``sessions.revoked_since``: what it was asked, what it answers."""

    def __init__(self) -> None:
        self.asked: list[datetime] = []
        self.revoked: list[tuple[int, str | None]] = []
        self.failing = False

    async def since(self, start: datetime) -> list[tuple[int, str | None]]:
        self.asked.append(start)
        if self.failing:
            raise ConnectionError("database unreachable")
        return self.revoked


async def test_the_revocation_sweep_closes_revoked_sessions_here() -> None:
    local, table = LocalConnections(), RevokedSessions()
    sweep = RevocationSweep(local, table.since, clock=ManualClock())
    kept, lost, unnamed = connection(1, 1), connection(1, 2), connection(2, 3)
    for conn in (kept, lost, unnamed):
        local.add(conn, [])
    table.revoked = [(2, "紛失届"), (3, None), (99, "elsewhere")]
    await sweep.sweep()
    assert kept.close_requested is None
    assert lost.close_requested == (CLOSE_SESSION_ENDED, "紛失届")
    assert unnamed.close_requested == (CLOSE_SESSION_ENDED, "session ended")


async def test_each_sweep_looks_back_from_just_before_the_previous_one() -> None:
    local, table, clock = LocalConnections(), RevokedSessions(), ManualClock()
    sweep = RevocationSweep(local, table.since, clock=clock)
    await sweep.sweep()
    assert table.asked == []  # nobody here: nothing to close, nothing asked
    local.add(connection(1, 1), [])
    first = clock.now()
    await sweep.sweep()
    clock.advance(1)
    await sweep.sweep()
    assert table.asked == [first - REVOCATION_LOOKBACK, first - REVOCATION_LOOKBACK]
    # A sweep that failed moves nothing on: the next looks back as far.
    second = clock.now()
    clock.advance(1)
    table.failing = True
    with pytest.raises(ConnectionError):
        await sweep.sweep()
    table.failing = False
    await sweep.sweep()
    assert table.asked[-1] == second - REVOCATION_LOOKBACK
    clock.advance(1)
    await sweep.sweep()
    assert table.asked[-1] == clock.now() - timedelta(seconds=1) - REVOCATION_LOOKBACK


def channel(channel_id: int) -> JSON:
    """A channel as the ready frame and ``channel.joined`` carry it."""
    return {"id": channel_id, "kind": "group", "name": "防災連絡", "department_id": None,
            "last_seq": 0, "last_version": 0, "last_read_seq": 0}


class Memberships:
    """Stands in for the memberships the database holds (None: a disabled account);
    ``during_read`` runs inside a read, as a live change arriving meanwhile would."""

    def __init__(self, current: dict[int, dict[int, JSON] | None]) -> None:
        self.current = current
        self.during_read: list[tuple[int, int]] = []
        self.local: LocalConnections | None = None

    async def read(self, user_ids: Sequence[int]) -> dict[int, dict[int, JSON] | None]:
        await asyncio.sleep(0)  # a read yields to the loop, as a database's does
        assert self.local is not None
        for user_id, channel_id in self.during_read:
            self.local.join(user_id, channel_id, joined_frame(channel_id))
        return {u: self.current.get(u, {}) for u in user_ids}


async def test_reconcile_moves_connections_to_the_channels_the_database_holds() -> None:
    local = LocalConnections()
    phone, desk = connection(5, 1), connection(5, 2)
    local.add(phone, [1, 2])
    local.add(desk, [1])
    table = Memberships({5: {1: channel(1), 3: channel(3)}})
    table.local = local
    await MembershipReconcile(local, table.read).reconcile()
    assert phone.channel_ids == desk.channel_ids == {1, 3}
    assert drain(phone) == [{"type": "channel.left", "channel_id": 2},
                            {"type": "channel.joined", "channel": channel(3)}]
    # The desk never had channel 2; "left" still reaches every device of the person.
    assert [f["type"] for f in drain(desk)] == ["channel.left", "channel.joined"]
    assert local.in_channel(2) is None


async def test_reconcile_ends_the_connections_of_a_disabled_account() -> None:
    local = LocalConnections()
    disabled, colleague = connection(5, 1), connection(6, 2)
    local.add(disabled, [1])
    local.add(colleague, [1])
    table = Memberships({5: None, 6: {1: channel(1)}})
    table.local = local
    await MembershipReconcile(local, table.read).reconcile()
    assert disabled.close_requested == (CLOSE_SESSION_ENDED, "account disabled")
    assert colleague.close_requested is None and drain(colleague) == []


async def test_reconcile_leaves_alone_whoever_changed_while_it_read() -> None:
    local = LocalConnections()
    conn = connection(5, 1)
    local.add(conn, [1])
    table = Memberships({5: {1: channel(1)}})  # read before the join of 9 committed
    table.local = local
    table.during_read = [(5, 9)]
    await MembershipReconcile(local, table.read).reconcile()
    assert conn.channel_ids == {1, 9}
    assert [f["type"] for f in drain(conn)] == ["channel.joined"]
