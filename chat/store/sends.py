"""What a batch of sends reads before it writes: its resends, its channels and the
senders' memberships, and who of those channels' members can be pushed to.

On PostgreSQL the three are one statement: each statement is a round trip, a wait for
a core the database server shares with the node on a small machine, and a lone send at
a quiet time made twelve (docs/store.md, "A send's statements"). On SQLite, whose
statements cost no round trip, they stay the repositories' own statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.channels import ChannelRepository, PostingChannel
from chat.store.messages import MessageRepository
from chat.store.models import Message
from chat.store.sqlite_inline import InlineStatement, rows_of

# Three parts, told apart by the first column: 0, a resend (the message stored for a
# (sender, client id) pair: the LATERAL probe of messages._STORED_KEYS); 1, a channel
# and, if a member, one of the senders; 2, a member with a push subscription and whether
# they muted the channel (ChannelRepository.subscriber_mute_flags).
_LOOK_UP = InlineStatement(text(
    "SELECT 0 AS part, m.id, m.sender_id, CAST(m.client_id AS TEXT) AS t1, "
    "CAST(NULL AS TEXT) AS t2, CAST(NULL AS BOOLEAN) AS muted FROM unnest("
    "CAST(:senders AS BIGINT[]), CAST(:client_ids AS VARCHAR[])) AS k(sender_id, client_id) "
    "CROSS JOIN LATERAL (SELECT s.id, s.sender_id, s.client_id FROM messages AS s "
    "WHERE s.sender_id = k.sender_id AND s.client_id = k.client_id LIMIT 1) AS m "
    "UNION ALL "
    "SELECT 1, c.id, ms.user_id, CAST(c.kind AS TEXT), CAST(c.name AS TEXT), NULL "
    "FROM channels AS c LEFT OUTER JOIN memberships AS ms ON ms.channel_id = c.id "
    "AND ms.user_id = ANY(CAST(:users AS BIGINT[])) "
    "WHERE c.id = ANY(CAST(:channels AS BIGINT[])) "
    "UNION ALL "
    "SELECT DISTINCT 2, ms.channel_id, ms.user_id, NULL, NULL, ms.muted "
    "FROM memberships AS ms JOIN push_subscriptions AS p ON p.user_id = ms.user_id "
    "WHERE ms.channel_id = ANY(CAST(:channels AS BIGINT[]))"))


@dataclass
class SendLookUp:
    #: The messages already stored for the batch's (sender, client id) keys.
    stored: dict[tuple[int, str], Message]
    #: The channels that exist, by id.
    channels: dict[int, PostingChannel]
    #: The (channel, sender) pairs that are memberships.
    members: set[tuple[int, int]]
    #: Per channel, its members who can be pushed to and whether they muted it
    #: (channels without any left out); None if not read here (SQLite).
    push_flags: dict[int, dict[int, bool]] | None


class SendBatchRepository:
    def __init__(self, session: AsyncSession, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
        self._messages = MessageRepository(session, dialect)
        self._channels = ChannelRepository(session)

    async def look_up(self, keys: Sequence[tuple[int, str]],
                      pairs: Sequence[tuple[int, int]]) -> SendLookUp:
        """For ``(sender_id, client_id)`` keys and ``(channel_id, sender_id)`` pairs:
        :meth:`MessageRepository.by_client_ids`,
        :meth:`ChannelRepository.with_memberships` and (PostgreSQL) the push flags of
        :meth:`ChannelRepository.subscriber_mute_flags` — one statement on PostgreSQL
        (two when there are resends, loaded whole)."""
        if self.dialect != "postgresql":
            posting, memberships = await self._channels.with_memberships(pairs)
            return SendLookUp(await self._messages.by_client_ids(keys), posting,
                              memberships, None)
        wanted_keys = sorted(set(keys))
        wanted_pairs = set(pairs)
        rows = await rows_of(self.session, _LOOK_UP, {
            "senders": [s for s, _ in wanted_keys],
            "client_ids": [c for _, c in wanted_keys],
            "channels": sorted({c for c, _ in wanted_pairs}),
            "users": sorted({u for _, u in wanted_pairs})})
        stored_ids: dict[tuple[int, str], int] = {}
        channels: dict[int, PostingChannel] = {}
        members: set[tuple[int, int]] = set()
        flags: dict[int, dict[int, bool]] = {}
        for part, number, user_id, t1, t2, muted in rows:
            if part == 0:
                stored_ids[int(user_id), str(t1)] = int(number)
            elif part == 1:
                channels[int(number)] = PostingChannel(int(number), str(t1), str(t2))
                if user_id is not None:
                    members.add((int(number), int(user_id)))
            else:
                flags.setdefault(int(number), {})[int(user_id)] = bool(muted)
        stored = await self._messages.by_ids(stored_ids) if stored_ids else {}
        return SendLookUp(stored, channels, members & wanted_pairs, flags)
