"""Reading the audit log: who read or exported what, sign-ins, revocations, policy
changes, filtered and paged (the console's 監査ログ page and ``tsunagu audit log``).

Who: auditors (``RECORDS_KEEPERS``), and the operator at the command line (who holds the
database credentials anyway and is recorded by name). Not admins: the log is how the
audit office watches what admins do (devices, roles, policy), and separation of duties
(``chat.domain.roles``) keeps the watched from reviewing their own trail.

Viewing is itself audited (``audit.log_viewed``, with the filters), in a write of its own
*before* anything is returned, so the view's own entry heads its first page; a refused
view is audited as ``refused``. Entries are returned as stored (ids, counts, reasons;
never message text, which the log does not hold).
"""

from __future__ import annotations

import json
from typing import Any

from chat.audit.record import audit
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.audit_log import AuditLogFilters
from chat.domain.dates import wire_time
from chat.domain.roles import RECORDS_KEEPERS
from chat.errors import RoleRequired, UserNotFound
from chat.store.audit import log_page
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON

Actor = Principal | str


def _who(actor: Actor) -> dict[str, Any]:
    if isinstance(actor, str):
        return {"actor_user_id": None, "session_id": None, "device_id": None, "by": actor}
    return {"actor_user_id": actor.user_id, "session_id": actor.session_id,
            "device_id": actor.device_id}


def _detail(raw: str) -> JSON:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {"unparsed": raw}
    return value if isinstance(value, dict) else {"value": value}


async def read_audit_log(ctx: AppContext, *, actor: Actor, filters: AuditLogFilters,
                         before_id: int | None = None, limit: int = 50,
                         remote: str | None = None) -> JSON:
    """One page of entries, newest first: ``{"entries": [...], "next_before": id | None}``.

    Each entry: ``id``, ``seq``, ``at`` (UTC), ``action``, ``outcome``, ``actor`` and
    ``subject`` (``{"user_id", "staff_number", "name"}`` or None), ``device_id``,
    ``session_id``, ``remote_addr``, ``detail`` (the stored JSON object). Pass
    ``next_before`` as ``before_id`` for the next page (ids below it; None: no more).
    Raises RoleRequired for anyone but an auditor (audited), UserNotFound for an unknown
    actor or subject staff number.
    """
    who = _who(actor)
    if not isinstance(actor, str) and actor.role not in RECORDS_KEEPERS:
        await audit(ctx, AuditAction.AUDIT_LOG_VIEWED, outcome="refused", remote=remote,
                    role=actor.role, **who)
        raise RoleRequired("Only auditors may read the audit log")
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        ids: dict[str, int | None] = {}
        for field, number in (("actor", filters.actor), ("subject", filters.subject)):
            if number is None:
                ids[field] = None
                continue
            user = await uow.users.by_staff_number(number)
            if user is None:
                raise UserNotFound(f"No staff member {number} ({field})")
            ids[field] = user.id
    # Recorded before anything is read, in its own write: no entry, no answer.
    given: dict[str, Any] = {**filters.as_detail(), "limit": limit, "before": before_id}
    await audit(ctx, AuditAction.AUDIT_LOG_VIEWED, remote=remote, **given, **who)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        events = list(await log_page(
            uow.audit, action=filters.action, action_prefix=filters.action_prefix,
            actor_user_id=ids["actor"], subject_user_id=ids["subject"], start=filters.start,
            end=filters.end, outcome=filters.outcome, before_id=before_id, limit=limit + 1))
        more = len(events) > limit
        events = events[:limit]
        wanted = {i for e in events for i in (e.actor_user_id, e.subject_user_id)
                  if i is not None}
        people = {u.id: {"user_id": u.id, "staff_number": u.staff_number, "name": u.name}
                  for u in await uow.users.many(sorted(wanted))}
    entries = [{
        "id": e.id, "seq": e.seq, "at": wire_time(e.occurred_at), "action": e.action,
        "outcome": e.outcome,
        "actor": people.get(e.actor_user_id) if e.actor_user_id is not None else None,
        "subject": people.get(e.subject_user_id) if e.subject_user_id is not None else None,
        "device_id": e.device_id, "session_id": e.session_id, "remote_addr": e.remote_addr,
        "detail": _detail(e.detail),
    } for e in events]
    return {"entries": entries, "next_before": events[-1].id if more else None}
