"""What the bus could not carry, caught up from the database: sessions revoked anywhere
(each second) and memberships that changed beside this node (every 30 s by default).

The bus is lossy by contract (a CLI beside a node on the in-process bus reaches it
through the database's bus outbox, and may still lose an event); these sweeps make the
node converge on the database anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from chat.frames import encode
from chat.hub.registry import LocalConnections
from chat.protocol import CLOSE_SESSION_ENDED
from chat.types import JSON, Clock

log = logging.getLogger(__name__)

# user id -> {channel id -> channel as in the ready frame}, or None for an inactive user.
MembershipSource = Callable[[Sequence[int]], Awaitable[dict[int, dict[int, JSON] | None]]]
# start -> [(session id, reason)] of the sessions revoked after ``start``.
RevocationSource = Callable[[datetime], Awaitable[list[tuple[int, str | None]]]]
# How far each revocation sweep looks back before the previous one: covers commit delay
# and clock skew between writers.
REVOCATION_LOOKBACK = timedelta(seconds=5)



class RevocationSweep:
    """Closes the connections here of sessions revoked anywhere, within a second.

    The ``sessions.revoked`` bus event normally does this at once; each node also asks
    the database, every second, which sessions were revoked lately (an indexed range on
    ``revoked_at``, from :data:`REVOCATION_LOOKBACK` before the previous sweep).
    """

    def __init__(self, connections: LocalConnections, revocations: RevocationSource, *,
                 clock: Clock) -> None:
        self._connections = connections
        self._revocations = revocations
        self._clock = clock
        # When the previous sweep asked, or None: the next looks back from its own time.
        self._since: datetime | None = None

    async def sweep(self) -> None:
        """One sweep. A node with no connections asks nothing (the next sweep then looks
        back from its own time: a connection opened meanwhile authenticated against the
        database already)."""
        if not self._connections.all:
            self._since = None
            return
        now = self._clock.now()
        revoked = await self._revocations((self._since or now) - REVOCATION_LOOKBACK)
        self._since = now
        if revoked:
            reasons = dict(revoked)
            for conn in tuple(self._connections.all):
                if conn.session_id in reasons:
                    conn.request_close(CLOSE_SESSION_ENDED,
                                       (reasons[conn.session_id] or "session ended")[:100])


class MembershipReconcile:
    """Aligns every connection here with the database: drops channels the person left,
    adds ones they joined, and ends the connections of deactivated people.

    Membership changes normally arrive as bus events; this catches what the bus could
    not carry (a lost event, a CLI killed between its commit and its outbox row), so a
    person moved out of a department stops receiving it within one interval.
    """

    def __init__(self, connections: LocalConnections, memberships: MembershipSource) -> None:
        self._connections = connections
        self._memberships = memberships

    async def reconcile(self) -> None:
        connections = self._connections
        user_ids = connections.user_ids()
        if not user_ids:
            return
        epochs = {u: connections.membership_epoch(u) for u in user_ids}
        current = await self._memberships(user_ids)
        for user_id in user_ids:
            if connections.membership_epoch(user_id) != epochs[user_id]:
                # A live join/leave landed while we read: our snapshot may predate it.
                continue
            channels = current.get(user_id)
            conns = connections.of_user(user_id)
            if channels is None:
                for conn in conns:
                    conn.request_close(CLOSE_SESSION_ENDED, "account disabled")
                continue
            if not conns:
                continue
            in_any = set().union(*(c.channel_ids for c in conns))
            in_all = set.intersection(*(c.channel_ids for c in conns))
            for channel_id in sorted(in_any - channels.keys()):
                connections.leave(user_id, channel_id, encode(
                    {"type": "channel.left", "channel_id": channel_id}))
            for channel_id in sorted(channels.keys() - in_all):
                connections.join(user_id, channel_id, encode(
                    {"type": "channel.joined", "channel": channels[channel_id]}))
