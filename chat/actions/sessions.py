"""Ending sessions: sign-out, device revocation (chat.actions.devices), disabled accounts.

A revoked session is refused at once by ``authenticate``; its open websocket
connections, on every node, are closed with 4002 through the bus.
"""

from __future__ import annotations

import json

from chat.audit.record import audit_within
from chat.auth.sessions import Principal
from chat.bus.topics import SESSIONS_REVOKED_TOPIC
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.store.uow import TxMode, UnitOfWork, unit_of_work


async def revoke_sessions(ctx: AppContext, session_ids: list[int], *, reason: str) -> list[int]:
    """Revoke the given sessions and close their connections everywhere.
    Returns the ids that were still live."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        return await revoke_within(ctx, uow, session_ids, reason=reason)


async def revoke_within(ctx: AppContext, uow: UnitOfWork, session_ids: list[int], *,
                        reason: str) -> list[int]:
    """Revoke inside the caller's transaction; connections close after it commits."""
    revoked = await uow.sessions.revoke(session_ids, at=ctx.clock.now(), reason=reason)
    if revoked:
        payload = json.dumps({"session_ids": revoked, "reason": reason})
        uow.on_commit(lambda: ctx.bus.publish(SESSIONS_REVOKED_TOPIC, payload))
    return revoked


async def sign_out(ctx: AppContext, *, actor: Principal) -> None:
    """End the actor's own session (this device only)."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await revoke_within(ctx, uow, [actor.session_id], reason="signed out")
        audit_within(ctx, uow, AuditAction.SESSION_SIGNED_OUT, actor_user_id=actor.user_id,
                     subject_user_id=actor.user_id, device_id=actor.device_id,
                     session_id=actor.session_id)


async def revoke_user_sessions(ctx: AppContext, *, user_id: int, reason: str) -> list[int]:
    """End every live session of a user (a disabled account, a lost phone)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        live = await uow.sessions.live_ids_of_user(user_id, now=ctx.clock.now())
    return await revoke_sessions(ctx, live, reason=reason)
