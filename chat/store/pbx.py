"""Queries on the PBX integration: secrets, the event log, calls and the directory.
(Notices' follow-up state is ``chat.store.notices``.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import (
    PbxCall,
    PbxDirectoryEntry,
    PbxEvent,
    PbxSecret,
    User,
)


class PbxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- secrets -------------------------------------------------------------------------

    async def secret(self, name: str) -> PbxSecret | None:
        return await self.session.scalar(select(PbxSecret).where(PbxSecret.name == name))

    async def secrets(self) -> Sequence[PbxSecret]:
        return (await self.session.scalars(select(PbxSecret).order_by(PbxSecret.id))).all()

    async def active_secrets(self, kind: str) -> Sequence[PbxSecret]:
        """Secrets of ``kind`` not retired, oldest first."""
        return (await self.session.scalars(
            select(PbxSecret).where(PbxSecret.kind == kind, PbxSecret.retired_at.is_(None))
            .order_by(PbxSecret.id))).all()

    def add_secret(self, secret: PbxSecret) -> None:
        self.session.add(secret)

    # --- the event log -------------------------------------------------------------------

    async def event_by_delivery(self, source: str, delivery_id: str) -> PbxEvent | None:
        return await self.session.scalar(select(PbxEvent).where(
            PbxEvent.source == source, PbxEvent.delivery_id == delivery_id))

    def add_event(self, event: PbxEvent) -> None:
        self.session.add(event)

    async def recent_events(self, *, limit: int, outcome: str | None = None
                            ) -> Sequence[PbxEvent]:
        """The newest events of the log, newest first (optionally of one outcome)."""
        stmt = select(PbxEvent).order_by(PbxEvent.id.desc()).limit(limit)
        if outcome is not None:
            stmt = stmt.where(PbxEvent.outcome == outcome)
        return (await self.session.scalars(stmt)).all()

    async def events_of_call(self, source: str, call_id: str) -> Sequence[PbxEvent]:
        return (await self.session.scalars(
            select(PbxEvent).where(PbxEvent.source == source, PbxEvent.call_id == call_id)
            .order_by(PbxEvent.id))).all()

    async def blank_old_events(self, received_before: datetime, *, after_id: int,
                               limit: int) -> list[int]:
        """Drop the raw bodies (numbers, names) of up to ``limit`` events received before
        ``received_before``, by id after ``after_id``; their ids. The delivery id, type,
        call id and times stay, so a PBX's late retry is still known as a duplicate."""
        ids = list((await self.session.scalars(
            select(PbxEvent.id).where(*_events_with_bodies(received_before),
                                      PbxEvent.id > after_id)
            .order_by(PbxEvent.id).limit(limit))).all())
        if ids:
            await self.session.execute(
                update(PbxEvent).where(PbxEvent.id.in_(ids)).values(payload=""))
        return ids

    async def forget_old_call_numbers(self, updated_before: datetime, *, after_id: int,
                                      limit: int) -> list[int]:
        """Forget the numbers of up to ``limit`` calls last changed before
        ``updated_before`` that show no state, by id after ``after_id``; their ids."""
        ids = list((await self.session.scalars(
            select(PbxCall.id).where(*_calls_with_numbers(updated_before),
                                     PbxCall.id > after_id)
            .order_by(PbxCall.id).limit(limit))).all())
        if ids:
            await self.session.execute(
                update(PbxCall).where(PbxCall.id.in_(ids))
                .values(from_number=None, to_number=None))
        return ids

    async def count_to_blank(self, before: datetime) -> tuple[int, int]:
        """(events, calls) the retention run would blank for ``before``."""
        events = await self.session.scalar(
            select(func.count()).select_from(PbxEvent).where(*_events_with_bodies(before)))
        calls = await self.session.scalar(
            select(func.count()).select_from(PbxCall).where(*_calls_with_numbers(before)))
        return int(events or 0), int(calls or 0)

    # --- calls ---------------------------------------------------------------------------

    async def call(self, source: str, call_id: str, *, for_update: bool = False
                   ) -> PbxCall | None:
        stmt = select(PbxCall).where(PbxCall.source == source, PbxCall.call_id == call_id)
        if for_update:
            # Two events of one call (a PBX retrying in parallel) must not interleave:
            # the second waits and then applies on top of the first.
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    def add_call(self, call: PbxCall) -> None:
        self.session.add(call)

    async def presence_calls(self, now: datetime, *, user_ids: Sequence[int] | None = None
                             ) -> Sequence[PbxCall]:
        """Calls still showing beside someone's name (``presence_until`` after ``now``),
        optionally only those involving ``user_ids``."""
        stmt = select(PbxCall).where(PbxCall.presence.is_not(None),
                                     PbxCall.presence_until > now)
        if user_ids is not None:
            stmt = stmt.where(or_(PbxCall.user_id.in_(user_ids),
                                  PbxCall.peer_user_id.in_(user_ids)))
        return (await self.session.scalars(stmt.order_by(PbxCall.id))).all()

    async def lapsed_presence(self, now: datetime, *, limit: int) -> Sequence[PbxCall]:
        """Calls whose shown state outlived its deadline (the end event never came);
        at most ``limit``, oldest deadline first."""
        return (await self.session.scalars(
            select(PbxCall).where(PbxCall.presence.is_not(None),
                                  PbxCall.presence_until <= now)
            .order_by(PbxCall.presence_until).limit(limit))).all()

    async def clear_lapsed_presence(self, call_id: int, now: datetime) -> bool:
        """Clear a lapsed call state if it is still lapsed; True for the one node (of
        several sweeping) whose conditional update took it."""
        result = await self.session.execute(
            update(PbxCall)
            .where(PbxCall.id == call_id, PbxCall.presence.is_not(None),
                   PbxCall.presence_until <= now)
            .values(presence=None, presence_until=None, updated_at=now))
        return bool(getattr(result, "rowcount", 0))

    # --- the directory -------------------------------------------------------------------

    async def directory_entry(self, number: str) -> PbxDirectoryEntry | None:
        return await self.session.scalar(
            select(PbxDirectoryEntry).where(PbxDirectoryEntry.number == number))

    async def directory(self) -> Sequence[PbxDirectoryEntry]:
        return (await self.session.scalars(
            select(PbxDirectoryEntry).order_by(PbxDirectoryEntry.number))).all()

    def add_directory_entry(self, entry: PbxDirectoryEntry) -> None:
        self.session.add(entry)

    async def remove_directory_entries(self, numbers: Sequence[str]) -> None:
        if numbers:
            await self.session.execute(delete(PbxDirectoryEntry).where(
                PbxDirectoryEntry.number.in_(numbers)))

    async def user_with_extension(self, extension: str) -> User | None:
        """The active user whose staff record carries this extension (the staff CSV's
        ``extension`` column), for numbers the PBX directory does not list."""
        return await self.session.scalar(
            select(User).where(User.extension == extension, User.is_active)
            .order_by(User.id).limit(1))


def _events_with_bodies(received_before: datetime) -> tuple[Any, ...]:
    """Events received before then that still hold their raw body."""
    return PbxEvent.received_at < received_before, PbxEvent.payload != ""


def _calls_with_numbers(updated_before: datetime) -> tuple[Any, ...]:
    """Calls last changed before then that still hold a number and show no state."""
    return (PbxCall.updated_at < updated_before, PbxCall.presence.is_(None),
            or_(PbxCall.from_number.is_not(None), PbxCall.to_number.is_not(None)))
