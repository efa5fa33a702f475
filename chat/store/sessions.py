"""Queries on sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.db import Database
from chat.store.models import AuthSession, User
from chat.store.sqlite_inline import InlineStatement

# Built once: SQLAlchemy finds it in its statement cache without rebuilding it.
_WITH_USER_BY_DIGEST = (
    select(AuthSession, User)
    .outerjoin(User, User.id == AuthSession.user_id)
    .where(AuthSession.token_digest == bindparam("digest")))


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def with_user_by_digest(self, digest: str) -> tuple[AuthSession, User | None] | None:
        """The session presented by its token's digest, and its user (None if the user
        row is gone), in one statement: every request and connect asks for both."""
        row = (await self.session.execute(_WITH_USER_BY_DIGEST, {"digest": digest})).first()
        return None if row is None else (row[0], row[1])

    async def by_id(self, session_id: int) -> AuthSession | None:
        return await self.session.get(AuthSession, session_id)

    def add(self, auth_session: AuthSession) -> None:
        self.session.add(auth_session)

    async def revoke(self, session_ids: list[int], *, at: datetime,
                     reason: str | None = None) -> list[int]:
        """Mark live sessions revoked; returns the ids that were live."""
        if not session_ids:
            return []
        rows = await self.session.scalars(
            update(AuthSession)
            .where(AuthSession.id.in_(session_ids), AuthSession.revoked_at.is_(None))
            .values(revoked_at=at, revoked_reason=reason)
            .returning(AuthSession.id))
        return [int(i) for i in rows.all()]

    async def touch(self, session_id: int, *, at: datetime) -> None:
        """Record use: the idle deadline slides from ``at``."""
        await self.session.execute(
            update(AuthSession).where(AuthSession.id == session_id,
                                      AuthSession.last_active_at < at)
            .values(last_active_at=at))

    async def live_ids_of_device(self, device_id: int) -> list[int]:
        rows = await self.session.scalars(
            select(AuthSession.id).where(AuthSession.device_id == device_id,
                                         AuthSession.revoked_at.is_(None)))
        return [int(i) for i in rows.all()]

    async def live_ids_of_user(self, user_id: int, *, now: datetime) -> list[int]:
        rows = await self.session.scalars(
            select(AuthSession.id).where(AuthSession.user_id == user_id,
                                         AuthSession.revoked_at.is_(None),
                                         AuthSession.expires_at > now))
        return [int(i) for i in rows.all()]

    async def live_counts_by_device(self, *, now: datetime) -> dict[int, int]:
        """How many unexpired, unrevoked sessions each device holds."""
        rows = await self.session.execute(
            select(AuthSession.device_id, func.count())
            .where(AuthSession.device_id.is_not(None), AuthSession.revoked_at.is_(None),
                   AuthSession.expires_at > now)
            .group_by(AuthSession.device_id))
        return {int(device): int(count) for device, count in rows.all() if device is not None}


_SESSIONS = AuthSession.__table__
_REVOKED_SINCE = InlineStatement(
    select(_SESSIONS.c.id, _SESSIONS.c.revoked_reason)
    .where(_SESSIONS.c.revoked_at > bindparam("moment", type_=_SESSIONS.c.revoked_at.type)))


async def revoked_since(db: Database, moment: datetime) -> list[tuple[int, str | None]]:
    """Sessions revoked after ``moment``, with why: every node's revocation sweep asks
    this each second (an indexed range on ``revoked_at``), so without a session
    (:meth:`Database.read_now`)."""
    return [(int(i), reason) for i, reason in await db.read_now(
        _REVOKED_SINCE, {"moment": moment})]
