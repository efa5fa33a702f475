"""Queries on sign-in sessions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from chat.store.models import AuthSession


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_digest(self, digest: str) -> AuthSession | None:
        return await self.session.scalar(
            select(AuthSession).where(AuthSession.token_digest == digest)
        )

    def add(self, auth_session: AuthSession) -> None:
        self.session.add(auth_session)
