"""Sessions: minting a token bound to a device key, and authenticating a request by it.

A session token is a bearer secret stored only as a keyed digest. On its own it is
useless: a session minted by a passkey sign-in records the thumbprint (``jkt``) of the
device key that signed in, and every request and websocket authentication must carry a
fresh DPoP proof signed by that key (:mod:`chat.auth.dpop`). Sessions end at an absolute
deadline, after an idle period without proven use, on sign-out and on revocation.
Development sessions (``kind="dev"``) may be unbound, and are refused whenever the node
does not allow the development path.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from chat.audit.record import audit
from chat.auth.dpop_base import DpopError, DpopNonceRequired
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.errors import InvalidToken, Unauthenticated
from chat.store.models import AuthSession
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import random_token

MAX_TOKEN_CHARS = 256
SESSION_COOKIE = "tsunagu_session"
DEV_SESSION_KIND = "dev"
PASSKEY_SESSION_KIND = "passkey"
# Use is written back at most this often per session (the idle deadline is coarse).
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """The authenticated actor behind a request or a connection."""

    user_id: int
    session_id: int
    role: str
    name: str
    department_id: int | None
    # When the session stops being valid whatever happens; connections close then.
    expires_at: datetime | None = None
    device_id: int | None = None
    jkt: str | None = None
    # When it ends unless used again (sliding).
    idle_expires_at: datetime | None = None


@dataclass(frozen=True)
class Presented:
    """What a request presented: the token, how it travelled, and the proof for it.

    ``scheme`` is ``"dpop"`` (Authorization: DPoP), ``"bearer"`` (Authorization:
    Bearer), ``"cookie"`` or ``"frame"`` (the websocket auth frame). ``method`` and
    ``url`` are what the proof must name (RFC 9449 ``htm``, ``htu``). ``nonce``, when
    given, is the one nonce the proof must carry (the websocket's ``hello``: a nonce
    fetched elsewhere or given to another connection is refused).
    """

    token: str
    scheme: str
    proof: str | None
    method: str
    url: str
    remote: str | None = None
    nonce: str | None = None


def token_digest(key: bytes, token: str) -> str:
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def new_session(ctx: AppContext, uow: UnitOfWork, *, user_id: int, kind: str,
                device_id: int | None = None, jkt: str | None = None
                ) -> tuple[str, AuthSession]:
    """Add a session inside the caller's transaction; returns its token (shown once)."""
    token = random_token()
    now = ctx.clock.now()
    session = AuthSession(
        token_digest=token_digest(ctx.secrets.session_key, token), user_id=user_id,
        device_id=device_id, kind=kind, jkt=jkt, created_at=now, last_active_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.session_ttl_seconds))
    uow.sessions.add(session)
    return token, session


async def mint_session(ctx: AppContext, *, user_id: int, kind: str,
                       device_id: int | None = None, jkt: str | None = None) -> str:
    """Create a session and return its token (shown once, stored as a digest)."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        token, _ = new_session(ctx, uow, user_id=user_id, kind=kind, device_id=device_id,
                               jkt=jkt)
    return token


def idle_deadline(ctx: AppContext, last_active_at: datetime) -> datetime:
    return last_active_at + timedelta(seconds=ctx.settings.session_idle_seconds)


async def authenticate(ctx: AppContext, presented: Presented, *,
                       touch: bool = True, policy: bool = True) -> Principal:
    """The principal behind ``presented``, or an error saying what is wrong.

    Unknown, revoked and disabled all read "a valid session is required" (no oracle);
    expiry says so. A bound session needs a proof from its device key with ``ath`` for
    this token; one presented as Bearer is refused (RFC 9449 §7.2, downgrade). A proof
    that fails for a live session is audited: that is what a stolen cookie looks like.
    The off-hours policy applies to every request, not only to sign-in (``policy=False``
    only for signing out, which must work at any hour).
    """
    token = presented.token
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise Unauthenticated()
    now = ctx.clock.now()
    digest = token_digest(ctx.secrets.session_key, token)
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        found = await uow.sessions.with_user_by_digest(digest)
    if found is None:
        raise Unauthenticated()
    session, user = found
    if session.revoked_at is not None or user is None or not user.is_active:
        raise Unauthenticated()
    if session.expires_at <= now:
        raise Unauthenticated("The session has expired; sign in again")
    if idle_deadline(ctx, session.last_active_at) <= now:
        raise Unauthenticated("The session ended after a period of inactivity; sign in again")
    if session.kind == DEV_SESSION_KIND and not ctx.settings.dev_sessions_allowed:
        raise Unauthenticated()
    if session.jkt is None:
        if session.kind != DEV_SESSION_KIND:
            raise Unauthenticated()
    else:
        if presented.scheme == "bearer":
            raise InvalidToken()
        try:
            await ctx.require_proofs().verify(
                presented.proof, method=presented.method, url=presented.url, now=now,
                access_token=token, expected_jkt=session.jkt, expected_nonce=presented.nonce)
        except DpopNonceRequired:
            raise
        except DpopError as error:
            await audit(ctx, AuditAction.SESSION_PROOF_REFUSED, outcome="refused",
                        subject_user_id=user.id, device_id=session.device_id,
                        session_id=session.id, remote=presented.remote,
                        reason=error.message, via=presented.scheme)
            raise
    if policy and ctx.policy is not None:
        await ctx.policy.check(user.role)
    last_active = session.last_active_at
    if touch and now - last_active >= TOUCH_INTERVAL:
        await record_use(ctx, session_id=session.id, device_id=session.device_id)
        last_active = now
    return Principal(user_id=user.id, session_id=session.id, role=user.role,
                     name=user.name, department_id=user.department_id,
                     expires_at=session.expires_at, device_id=session.device_id,
                     jkt=session.jkt, idle_expires_at=idle_deadline(ctx, last_active))


async def record_use(ctx: AppContext, *, session_id: int, device_id: int | None) -> None:
    """Slide the session's idle deadline (and the device's last-seen) to now."""
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.sessions.touch(session_id, at=now)
        if device_id is not None:
            await uow.devices.touch(device_id, at=now)
