"""The connections of this node, indexed the ways fanout reads them: by channel (channel
topics), by person (user and membership topics, presence), and all of them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from chat.hub.connection import Connection, Outgoing


class LocalConnections:
    """Who is connected here and which channels each connection receives.

    A person's membership changes (:meth:`join`, :meth:`leave`) apply to all their
    connections here and bump their *membership epoch*, so a reconcile that read the
    database before the change can tell its snapshot is stale.
    """

    def __init__(self) -> None:
        self.all: set[Connection] = set()
        self._by_channel: dict[int, set[Connection]] = defaultdict(set)
        # Tuples, not sets: nearly everyone has one or two connections and one node, and
        # a set costs 216 bytes a user.
        self._by_user: dict[int, tuple[Connection, ...]] = {}
        # Bumped on every live join/leave of a user, so reconcile can tell its database
        # snapshot went stale while it was being read.
        self._membership_epoch: dict[int, int] = defaultdict(int)

    def add(self, conn: Connection, channel_ids: Iterable[int]) -> bool:
        """Register ``conn`` in ``channel_ids``; True when it is its person's first
        connection here."""
        conn.channel_ids = set(channel_ids)
        self.all.add(conn)
        for channel_id in conn.channel_ids:
            self._by_channel[channel_id].add(conn)
        mine = self._by_user.get(conn.user_id, ())
        self._by_user[conn.user_id] = (*mine, conn)
        return not mine

    def remove(self, conn: Connection) -> bool:
        """Forget ``conn`` (twice is harmless); True when it was its person's last
        connection here."""
        if conn not in self.all:
            return False
        self.all.discard(conn)
        for channel_id in conn.channel_ids:
            self._unsubscribe(conn, channel_id)
        mine = tuple(c for c in self._by_user.get(conn.user_id, ()) if c is not conn)
        if mine:
            self._by_user[conn.user_id] = mine
            return False
        return self._by_user.pop(conn.user_id, None) is not None

    def is_here(self, user_id: int) -> bool:
        return user_id in self._by_user

    def of_user(self, user_id: int) -> tuple[Connection, ...]:
        return self._by_user.get(user_id, ())

    def user_ids(self) -> list[int]:
        """Everyone with a connection here, sorted."""
        return sorted(self._by_user)

    def in_channel(self, channel_id: int) -> set[Connection] | None:
        """The connections receiving ``channel_id`` (None or empty: nobody here). The
        set itself, not a copy: it changes only on register, unregister, join, leave."""
        return self._by_channel.get(channel_id)

    def membership_epoch(self, user_id: int) -> int:
        return self._membership_epoch.get(user_id, 0)

    def join(self, user_id: int, channel_id: int, frame: str) -> None:
        """Subscribe the person's connections to ``channel_id``, then write ``frame``
        (its ``channel.joined``) to them: nothing of the channel goes before it."""
        conns = self._by_user.get(user_id, ())
        if not conns:
            return
        self._membership_epoch[user_id] += 1
        for conn in conns:
            conn.channel_ids.add(channel_id)
            self._by_channel[channel_id].add(conn)
        self._offer(conns, frame)

    def leave(self, user_id: int, channel_id: int, frame: str) -> None:
        """Unsubscribe the person's connections from ``channel_id``, then write ``frame``
        (its ``channel.left``): nothing of the channel comes after it."""
        conns = self._by_user.get(user_id, ())
        if not conns:
            return
        self._membership_epoch[user_id] += 1
        for conn in conns:
            conn.channel_ids.discard(channel_id)
            self._unsubscribe(conn, channel_id)
        self._offer(conns, frame)

    def offer_to_user(self, user_id: int, text: str) -> None:
        self._offer(self._by_user.get(user_id, ()), text)

    def offer_to_all(self, text: str) -> None:
        frame = Outgoing(text)
        for conn in tuple(self.all):
            conn.offer(frame)

    def _unsubscribe(self, conn: Connection, channel_id: int) -> None:
        members = self._by_channel.get(channel_id)
        if members is not None:
            members.discard(conn)
            if not members:
                del self._by_channel[channel_id]

    @staticmethod
    def _offer(conns: tuple[Connection, ...], text: str) -> None:
        if conns:
            frame = Outgoing(text)
            for conn in conns:
                conn.offer(frame)
