"""Recording audit events: enrollment, sign-in, failures, revocation, policy changes,
every write an action makes.

Inside a write (``audit_within``) the event commits or rolls back with what it describes;
a refusal, which writes nothing else, records itself in its own transaction (``audit``).
Details never hold secrets: no tokens, codes, proofs or message text.

Below both ``chat.auth`` and ``chat.actions``, which record events alike; checkpoints and
verification of the log are ``chat.actions.audit``.
"""

from __future__ import annotations

import json
import logging

from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.auditchain import EntryContent
from chat.store.uow import TxMode, UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

Detail = str | int | float | bool | None | list[str] | list[int]
# Made once (json.dumps with arguments builds an encoder per call): one per message sent.
_DETAIL_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _event(ctx: AppContext, action: AuditAction, outcome: str, *, actor_user_id: int | None,
           subject_user_id: int | None, device_id: int | None, session_id: int | None,
           remote: str | None, detail: dict[str, Detail]) -> EntryContent:
    """The entry without its place in the chain (``seq`` 0; the seal gives it one)."""
    return EntryContent(
        seq=0, occurred_at=ctx.clock.now(), action=action, outcome=outcome,
        actor_user_id=actor_user_id, subject_user_id=subject_user_id, device_id=device_id,
        session_id=session_id, remote_addr=(remote or None) and remote[:64],
        detail=_DETAIL_ENCODER.encode(detail))


def audit_within(ctx: AppContext, uow: UnitOfWork, action: AuditAction, *, outcome: str = "ok",
                 actor_user_id: int | None = None, subject_user_id: int | None = None,
                 device_id: int | None = None, session_id: int | None = None,
                 remote: str | None = None, **detail: Detail) -> None:
    uow.audit.append(_event(ctx, action, outcome, actor_user_id=actor_user_id,
                            subject_user_id=subject_user_id, device_id=device_id,
                            session_id=session_id, remote=remote, detail=detail))


async def audit(ctx: AppContext, action: AuditAction, *, outcome: str = "ok",
                actor_user_id: int | None = None, subject_user_id: int | None = None,
                device_id: int | None = None, session_id: int | None = None,
                remote: str | None = None, **detail: Detail) -> None:
    """Record an event in a transaction of its own (refusals, which write nothing else)."""
    try:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            audit_within(ctx, uow, action, outcome=outcome, actor_user_id=actor_user_id,
                         subject_user_id=subject_user_id, device_id=device_id,
                         session_id=session_id, remote=remote, **detail)
    except Exception:
        # The refusal stands either way; losing its record is logged loudly.
        log.exception("could not record audit event %s", action)


async def audit_or_fail(ctx: AppContext, action: AuditAction, *, actor_user_id: int | None = None,
                        session_id: int | None = None, device_id: int | None = None,
                        **detail: Detail) -> None:
    """Record an event in its own transaction, raising if it cannot be recorded: for
    reads that must not happen unlogged (an admin's or auditor's read of messages)."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        uow.audit.append(_event(ctx, action, "ok", actor_user_id=actor_user_id,
                                subject_user_id=None, device_id=device_id,
                                session_id=session_id, remote=None, detail=detail))
