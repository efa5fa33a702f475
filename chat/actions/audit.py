"""Recording audit events: enrollment, sign-in, failures, revocation, policy changes.

Inside a write (``audit_within``) the event commits or rolls back with what it describes;
a refusal, which writes nothing else, records itself in its own transaction (``audit``).
Details never hold secrets: no tokens, codes, proofs or message text.
"""

from __future__ import annotations

import json
import logging

from chat.context import AppContext
from chat.store.models import AuditEvent
from chat.store.uow import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

Detail = str | int | float | bool | None | list[str] | list[int]


def _event(ctx: AppContext, action: str, outcome: str, *, actor_user_id: int | None,
           subject_user_id: int | None, device_id: int | None, session_id: int | None,
           remote: str | None, detail: dict[str, Detail]) -> AuditEvent:
    return AuditEvent(
        occurred_at=ctx.clock.now(), action=action, outcome=outcome,
        actor_user_id=actor_user_id, subject_user_id=subject_user_id, device_id=device_id,
        session_id=session_id, remote_addr=(remote or None) and remote[:64],
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True))


def audit_within(ctx: AppContext, uow: UnitOfWork, action: str, *, outcome: str = "ok",
                 actor_user_id: int | None = None, subject_user_id: int | None = None,
                 device_id: int | None = None, session_id: int | None = None,
                 remote: str | None = None, **detail: Detail) -> None:
    uow.audit.append(_event(ctx, action, outcome, actor_user_id=actor_user_id,
                            subject_user_id=subject_user_id, device_id=device_id,
                            session_id=session_id, remote=remote, detail=detail))


async def audit(ctx: AppContext, action: str, *, outcome: str = "ok",
                actor_user_id: int | None = None, subject_user_id: int | None = None,
                device_id: int | None = None, session_id: int | None = None,
                remote: str | None = None, **detail: Detail) -> None:
    """Record an event in a transaction of its own (refusals, which write nothing else)."""
    try:
        async with unit_of_work(ctx.db, write=True) as uow:
            audit_within(ctx, uow, action, outcome=outcome, actor_user_id=actor_user_id,
                         subject_user_id=subject_user_id, device_id=device_id,
                         session_id=session_id, remote=remote, **detail)
    except Exception:
        # The refusal stands either way; losing its record is logged loudly.
        log.exception("could not record audit event %s", action)
