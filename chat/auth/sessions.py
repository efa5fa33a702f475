"""Sessions as an interface: mint a token for a user, authenticate a token.

Device-bound sign-in (passkey + device key proofs) plugs in here; until then the only
way to mint a session is the development path in :mod:`chat.auth.dev`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from chat.context import AppContext
from chat.errors import Unauthenticated
from chat.store.models import AuthSession
from chat.store.uow import unit_of_work
from chat.types import random_token

MAX_TOKEN_CHARS = 256


@dataclass(frozen=True)
class Principal:
    """The authenticated actor behind a request or a connection."""

    user_id: int
    session_id: int
    role: str
    name: str
    department_id: int | None
    # When the session stops being valid; long-lived connections close then.
    expires_at: datetime | None = None


def token_digest(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


async def mint_session(ctx: AppContext, *, user_id: int, kind: str,
                       device_id: int | None = None) -> str:
    """Create a session and return its bearer token (shown once, stored as a digest)."""
    token = random_token()
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=True) as uow:
        uow.sessions.add(AuthSession(
            token_digest=token_digest(ctx.secrets.session_key, token),
            user_id=user_id, device_id=device_id, kind=kind, created_at=now,
            expires_at=now + timedelta(seconds=ctx.settings.session_ttl_seconds),
        ))
    return token


async def authenticate(ctx: AppContext, token: str) -> Principal:
    """The principal for ``token``; raises Unauthenticated for an unknown, expired or
    revoked session or an inactive user (one message for all: no oracle)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated()
    digest = token_digest(ctx.secrets.session_key, token)
    async with unit_of_work(ctx.db, write=False) as uow:
        session = await uow.sessions.by_digest(digest)
        if session is None or session.revoked_at is not None:
            raise Unauthenticated()
        if session.expires_at <= ctx.clock.now():
            raise Unauthenticated("The session has expired")
        user = await uow.users.get(session.user_id)
        if user is None or not user.is_active:
            raise Unauthenticated()
        return Principal(user_id=user.id, session_id=session.id, role=user.role,
                         name=user.name, department_id=user.department_id,
                         expires_at=session.expires_at)
