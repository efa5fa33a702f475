"""Queries on channels, memberships and read positions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, and_, bindparam, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import Channel, Membership, Message, PushSubscription, User
from chat.store.sqlite_inline import (
    InlineStatement,
    execute_each,
    inline_connection,
    rows_of,
)

_CHANNELS = cast(Table, Channel.__table__)
_MEMBERSHIPS = cast(Table, Membership.__table__)

# The statements every send runs, built once: SQLAlchemy then finds them in its
# statement cache without rebuilding them, and on SQLite's inline connection they run
# straight on sqlite3 (docs/performance.md, scenario a).
_WITH_MEMBERSHIPS = InlineStatement(
    select(_CHANNELS.c.id, _CHANNELS.c.kind, _CHANNELS.c.name, _MEMBERSHIPS.c.user_id)
    .outerjoin(_MEMBERSHIPS, and_(
        _MEMBERSHIPS.c.channel_id == _CHANNELS.c.id,
        _MEMBERSHIPS.c.user_id.in_(bindparam("users", expanding=True))))
    .where(_CHANNELS.c.id.in_(bindparam("channels", expanding=True))))
_TAKE_SEQS = InlineStatement(
    update(_CHANNELS).where(_CHANNELS.c.id == bindparam("channel"))
    .values(last_seq=_CHANNELS.c.last_seq + bindparam("count"),
            last_version=_CHANNELS.c.last_version + bindparam("count"))
    .returning(_CHANNELS.c.id, _CHANNELS.c.last_seq, _CHANNELS.c.last_version))
_ADVANCE_READS = InlineStatement(
    update(_MEMBERSHIPS)
    .where(_MEMBERSHIPS.c.channel_id == bindparam("c"),
           _MEMBERSHIPS.c.user_id == bindparam("u"),
           _MEMBERSHIPS.c.last_read_seq < bindparam("s"))
    .values(last_read_seq=bindparam("s")))
# Every connect asks it (chat.web.ws), as a short read.
_CHANNEL_IDS_OF = InlineStatement(
    select(_MEMBERSHIPS.c.channel_id).where(_MEMBERSHIPS.c.user_id == bindparam("user")))
_SUBSCRIBER_MUTE_FLAGS = InlineStatement(
    select(Membership.channel_id, Membership.user_id, Membership.muted).distinct()
    .join(PushSubscription, PushSubscription.user_id == Membership.user_id)
    .where(Membership.channel_id.in_(bindparam("channels", expanding=True))))


@dataclass(frozen=True)
class PostingChannel:
    """What a batch of sends reads of a channel: its kind (who may post) and its name
    (the push notification's title)."""

    id: int
    kind: str
    name: str


@dataclass(frozen=True)
class ChannelSummary:
    channel: Channel
    last_read_seq: int
    last_message: Message | None
    muted: bool = False

    @property
    def unread(self) -> int:
        return max(0, self.channel.last_seq - self.last_read_seq)


class ChannelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, channel_id: int) -> Channel | None:
        return await self.session.get(Channel, channel_id)

    async def lock(self, channel_id: int) -> None:
        """Row-lock the channel now (PostgreSQL; SQLite has one writer): for a writer
        that must also lock the audit head, so it takes the two in the order sends do
        (channels, then the head at seal) and the two cannot deadlock; and for two missed
        calls from one number racing into one channel, so the second sees the first's
        notice and collapses into it rather than posting its own."""
        await self.session.execute(
            select(_CHANNELS.c.id).where(_CHANNELS.c.id == channel_id).with_for_update())

    async def for_department(self, department_id: int) -> Channel | None:
        return await self.session.scalar(
            select(Channel).where(Channel.department_id == department_id)
        )

    async def by_slug(self, slug: str) -> Channel | None:
        return await self.session.scalar(select(Channel).where(Channel.slug == slug))

    async def department_channels(self) -> dict[int, Channel]:
        """Department id -> its channel, for every department that has one."""
        rows = await self.session.scalars(
            select(Channel).where(Channel.department_id.is_not(None)))
        return {c.department_id: c for c in rows.all() if c.department_id is not None}

    async def by_direct_key(self, key: str) -> Channel | None:
        return await self.session.scalar(select(Channel).where(Channel.direct_key == key))

    async def all(self) -> Sequence[Channel]:
        return (await self.session.scalars(select(Channel).order_by(Channel.id))).all()

    async def of_kind(self, kind: str) -> Sequence[Channel]:
        return (await self.session.scalars(
            select(Channel).where(Channel.kind == kind).order_by(Channel.id))).all()

    def add(self, channel: Channel) -> None:
        self.session.add(channel)

    async def allocate_seq(self, channel_id: int) -> tuple[int, int]:
        """Take the channel's next message seq and change version.

        The UPDATE row-locks the channel until this transaction ends, so seq order is
        commit order and no reader ever sees seq N+1 committed before N.
        """
        row = (await self.session.execute(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(last_seq=Channel.last_seq + 1, last_version=Channel.last_version + 1)
            .returning(Channel.last_seq, Channel.last_version)
        )).one()
        return int(row[0]), int(row[1])

    async def allocate_seqs(self, counts: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        """:meth:`allocate_seq` for a batch of sends: ``counts`` seqs and versions for
        each channel, in one statement (two on PostgreSQL for several channels); returns
        each channel's first seq and version (message i of it gets seq + i, version + i).

        The rows are locked in id order first (PostgreSQL; SQLite has one writer), so
        two nodes' batches never deadlock. Core statements: channel objects loaded in
        this transaction are not refreshed (a batch reads only their kind and name).
        """
        ids = sorted(counts)
        if len(ids) == 1 or await inline_connection(self.session) is not None:
            # The usual batch: one channel, one statement. SQLite (one writer) takes each
            # channel's seqs in a statement of its own, which costs it a few µs.
            rows = [row for channel_id in ids
                    for row in await rows_of(self.session, _TAKE_SEQS, {
                        "channel": channel_id, "count": counts[channel_id]})]
        else:
            if self.session.get_bind().dialect.name == "postgresql":
                await self.session.execute(
                    select(_CHANNELS.c.id).where(_CHANNELS.c.id.in_(ids))
                    .order_by(_CHANNELS.c.id).with_for_update())
            step = case(counts, value=_CHANNELS.c.id)
            rows = list((await self.session.execute(
                update(_CHANNELS).where(_CHANNELS.c.id.in_(ids))
                .values(last_seq=_CHANNELS.c.last_seq + step,
                        last_version=_CHANNELS.c.last_version + step)
                .returning(_CHANNELS.c.id, _CHANNELS.c.last_seq, _CHANNELS.c.last_version)
            )).all())
        return {int(channel_id): (int(seq) - counts[channel_id] + 1,
                                  int(version) - counts[channel_id] + 1)
                for channel_id, seq, version in rows}

    async def allocate_versions(self, channel_id: int, count: int) -> int:
        """Take ``count`` change versions at once (a purge batch); returns the last."""
        value = await self.session.scalar(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(last_version=Channel.last_version + count)
            .returning(Channel.last_version)
        )
        assert value is not None
        return int(value)

    async def allocate_version(self, channel_id: int) -> int:
        """Take the next change version (edits and deletes); row-locks like allocate_seq."""
        value = await self.session.scalar(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(last_version=Channel.last_version + 1)
            .returning(Channel.last_version)
        )
        assert value is not None
        return int(value)

    # --- memberships -------------------------------------------------------------------

    async def with_membership(self, channel_id: int, user_id: int
                              ) -> tuple[Channel | None, bool]:
        """The channel and whether ``user_id`` is a member of it, in one query (every
        send and read checks this)."""
        row = (await self.session.execute(
            select(Channel, Membership.user_id)
            .outerjoin(Membership, and_(Membership.channel_id == Channel.id,
                                        Membership.user_id == user_id))
            .where(Channel.id == channel_id))).first()
        if row is None:
            return None, False
        return row[0], row[1] is not None

    async def with_memberships(self, pairs: Iterable[tuple[int, int]]
                               ) -> tuple[dict[int, PostingChannel], set[tuple[int, int]]]:
        """For ``(channel_id, user_id)`` pairs, in one query: the channels that exist, by
        id, and the pairs that are memberships (a batch of sends checks them at once)."""
        wanted = set(pairs)
        if not wanted:
            return {}, set()
        lookup = {"channels": sorted({channel_id for channel_id, _ in wanted}),
                  "users": sorted({user_id for _, user_id in wanted})}
        rows = await rows_of(self.session, _WITH_MEMBERSHIPS, lookup)
        channels = {int(channel_id): PostingChannel(int(channel_id), str(kind), str(name))
                    for channel_id, kind, name, _ in rows}
        members = {(int(channel_id), int(user_id)) for channel_id, _, _, user_id in rows
                   if user_id is not None} & wanted
        return channels, members

    async def membership(self, channel_id: int, user_id: int) -> Membership | None:
        return await self.session.get(Membership, (channel_id, user_id))

    async def member_ids(self, channel_id: int) -> Sequence[int]:
        return (await self.session.scalars(
            select(Membership.user_id).where(Membership.channel_id == channel_id))).all()

    async def memberships_of(self, user_id: int) -> Sequence[Membership]:
        return (await self.session.scalars(
            select(Membership).where(Membership.user_id == user_id))).all()

    async def channel_ids_of(self, user_id: int) -> list[int]:
        return [int(channel_id) for channel_id, in await rows_of(
            self.session, _CHANNEL_IDS_OF, {"user": user_id})]

    def add_membership(self, membership: Membership) -> None:
        self.session.add(membership)

    async def remove_membership(self, channel_id: int, user_id: int) -> None:
        await self.session.execute(delete(Membership).where(
            Membership.channel_id == channel_id, Membership.user_id == user_id))

    async def summaries_for(self, user_id: int) -> Sequence[ChannelSummary]:
        """Every channel of the user with its read position and latest message."""
        stmt = (
            select(Channel, Membership.last_read_seq, Message, Membership.muted)
            .join(Membership, Membership.channel_id == Channel.id)
            .outerjoin(Message, and_(Message.channel_id == Channel.id,
                                     Message.seq == Channel.last_seq))
            .where(Membership.user_id == user_id)
            .order_by(Channel.kind, Channel.id)
        )
        return [ChannelSummary(channel=c, last_read_seq=int(r), last_message=m,
                               muted=bool(muted))
                for c, r, m, muted in (await self.session.execute(stmt)).all()]

    async def set_muted(self, channel_id: int, user_id: int, muted: bool) -> bool:
        """Mute or unmute the channel's Web Push for one member; False if not a member."""
        result = await self.session.execute(
            update(Membership)
            .where(Membership.channel_id == channel_id, Membership.user_id == user_id)
            .values(muted=muted))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def subscriber_mute_flags(self, channel_ids: Iterable[int]
                                    ) -> dict[int, dict[int, bool]]:
        """For each channel, its members who have a push subscription and whether they
        muted it (usually a few of a 700-member channel, so the push job after a batch
        of sends stays cheap); channels with no subscriber are left out."""
        wanted = {"channels": sorted(set(channel_ids))}
        rows = await rows_of(self.session, _SUBSCRIBER_MUTE_FLAGS, wanted)
        flags: dict[int, dict[int, bool]] = {}
        for channel_id, user_id, muted in rows:
            flags.setdefault(int(channel_id), {})[int(user_id)] = bool(muted)
        return flags

    async def members_with_positions(self, channel_id: int
                                     ) -> Sequence[tuple[int, str, int]]:
        """``(user_id, name, last_read_seq)`` of every member, by user id."""
        rows = await self.session.execute(
            select(User.id, User.name, Membership.last_read_seq)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.channel_id == channel_id).order_by(User.id))
        return [(int(u), str(n), int(s)) for u, n, s in rows.all()]

    # --- read positions (既読) ----------------------------------------------------------

    async def advance_read(self, channel_id: int, user_id: int, seq: int) -> bool:
        """Move the user's read position forward to ``seq``; never backwards.
        Returns False when the position was already at or beyond ``seq``."""
        result = await self.session.execute(
            update(Membership)
            .where(Membership.channel_id == channel_id, Membership.user_id == user_id,
                   Membership.last_read_seq < seq)
            .values(last_read_seq=seq)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def advance_reads(self, positions: Iterable[tuple[int, int, int]]) -> None:
        """:meth:`advance_read` for many ``(channel_id, user_id, seq)`` in one statement
        (executemany): a batch of sends moves each sender's position past their message."""
        await execute_each(self.session, _ADVANCE_READS,
                           [{"c": c, "u": u, "s": s} for c, u, s in positions])

    async def read_positions(self, channel_id: int) -> dict[int, int]:
        rows = await self.session.execute(
            select(Membership.user_id, Membership.last_read_seq)
            .where(Membership.channel_id == channel_id))
        return {int(u): int(s) for u, s in rows.all()}

    async def member_count(self, channel_id: int) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(Membership)
            .where(Membership.channel_id == channel_id)) or 0)

    async def direct_partners(self, user_id: int) -> dict[int, int]:
        """For each direct channel of ``user_id``: the other member's user id."""
        mine = select(Membership.channel_id).where(Membership.user_id == user_id)
        rows = await self.session.execute(
            select(Membership.channel_id, Membership.user_id)
            .join(Channel, Channel.id == Membership.channel_id)
            .where(Channel.kind == "direct", Membership.channel_id.in_(mine),
                   Membership.user_id != user_id))
        return {int(c): int(u) for c, u in rows.all()}

    async def memberships_by_user(
        self, user_ids: Sequence[int]
    ) -> dict[int, list[tuple[Channel, int]]]:
        """For each active user in ``user_ids``: their channels with read positions.
        Inactive or unknown users are absent from the result."""
        if not user_ids:
            return {}
        rows = await self.session.execute(
            select(User.id, Channel, Membership.last_read_seq)
            .select_from(User)
            .outerjoin(Membership, Membership.user_id == User.id)
            .outerjoin(Channel, Channel.id == Membership.channel_id)
            .where(User.id.in_(user_ids), User.is_active))
        result: dict[int, list[tuple[Channel, int]]] = {}
        for user_id, channel, read_seq in rows.all():
            entries = result.setdefault(int(user_id), [])
            if channel is not None:
                entries.append((channel, int(read_seq)))
        return result
