"""Auditor search and message history; every read is an audit event. Exports, which
share the role check and the audit here, are :mod:`chat.actions.exports`.

Separation of duties: only the ``auditor`` role reads other people's messages here.
Anyone else (admins included) is refused with ``forbidden``, and the refusal is itself
audited. A successful read is recorded *before* its result is returned, in a write of its
own: if the audit entry cannot be written, nothing is returned. Entries carry ids, counts
and digests, never message text.

Transparency (docs/audit.md): a signed-in auditor must give a reason for every search,
view and export (``reason_required`` otherwise). The entry keeps it, with
``sender_channels`` ("<sender id>:<channel id>" for every pair the read touched), so the
people whose messages were read can see when, where and why
(:mod:`chat.actions.access_log`).

The actor is a signed-in :class:`Principal` (HTTP) or, at the command line, the
operator's name (``cli:<account>``): whoever runs ``tsunagu`` beside the database holds
its credentials already, and is recorded by name.
"""

from __future__ import annotations

import logging
from typing import Any

from chat.audit.record import audit, audit_within
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.records import (
    MessageRecord,
    RecordFilters,
    check_reason,
    may_read_records,
    record_json,
)
from chat.errors import (
    BadRequest,
    ChannelNotFound,
    MessageNotFound,
    ReasonRequired,
    RoleRequired,
    UserNotFound,
)
from chat.store.records import RecordQuery
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

log = logging.getLogger(__name__)

Actor = Principal | str

MAX_PAGE = 200


# --- who is asking ------------------------------------------------------------------------

def who_of(actor: Actor) -> dict[str, Any]:
    """The audit fields naming the actor: their user, session and device, or the CLI
    operator's name."""
    if isinstance(actor, str):
        return {"actor_user_id": None, "session_id": None, "device_id": None, "by": actor}
    return {"actor_user_id": actor.user_id, "session_id": actor.session_id,
            "device_id": actor.device_id}


def label_of(actor: Actor) -> str:
    return actor if isinstance(actor, str) else f"{actor.name} (user {actor.user_id})"[:100]


async def require_reader(ctx: AppContext, actor: Actor, action: AuditAction, *,
                          remote: str | None, **detail: Any) -> None:
    """Let auditors (and the CLI operator) through; refuse anyone else, on the record."""
    if isinstance(actor, str) or may_read_records(actor.role):
        return
    await audit(ctx, action, outcome="refused", remote=remote, role=actor.role,
                **who_of(actor), **detail)
    raise RoleRequired("Only auditors may search, read and export messages")


def reason_of(actor: Actor, reason: str | None) -> str | None:
    """The stated reason, checked. Required of a signed-in auditor (HTTP and console); the
    operator at the command line may leave it out (recorded by name, shown to staff as
    "no reason recorded")."""
    if reason is None and isinstance(actor, str):
        return None
    try:
        return check_reason(reason)
    except ValueError as error:
        raise ReasonRequired(str(error)) from None


def sender_channels(records: list[MessageRecord]) -> set[str]:
    """"<sender id>:<channel id>" for each pair among ``records`` (system messages, which
    nobody sent, are left out): what :mod:`chat.actions.access_log` matches on."""
    return {f"{r.sender.id}:{r.channel_id}" for r in records if r.sender is not None}


async def record_read(ctx: AppContext, action: AuditAction, actor: Actor, *, remote: str | None,
                       **detail: Any) -> None:
    """Record a successful read in a transaction of its own; failures propagate, so a
    read that is not on the record is not returned."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        audit_within(ctx, uow, action, remote=remote, **who_of(actor), **detail)


async def record_query(uow: UnitOfWork, filters: RecordFilters) -> RecordQuery:
    sender_id = None
    if filters.staff_number is not None:
        user = await uow.users.by_staff_number(filters.staff_number)
        if user is None:
            raise UserNotFound(f"No user with staff number {filters.staff_number}")
        sender_id = user.id
    if filters.channel_id is not None and await uow.channels.get(filters.channel_id) is None:
        raise ChannelNotFound()
    return RecordQuery(sender_id=sender_id, channel_id=filters.channel_id,
                       start=filters.start, end=filters.end, words=filters.words)


# --- search and history -------------------------------------------------------------------

async def search_messages(ctx: AppContext, *, actor: Actor, filters: RecordFilters,
                          cursor: str | None, limit: int, remote: str | None = None,
                          reason: str | None = None) -> JSON:
    """A page of matching messages, newest first, each with its channel, sender, state
    and every revision. ``cursor`` is the previous page's ``next_cursor`` (None: from the
    newest); ``next_cursor`` is None on the last page. Audited as ``records.searched``
    with the filters, the ids returned, the reason and the senders' channels."""
    await require_reader(ctx, actor, AuditAction.RECORDS_SEARCHED, remote=remote,
                          **filters.to_json())
    reason = reason_of(actor, reason)
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
    before_id = None
    if cursor:
        if not cursor.isdigit():
            raise BadRequest("cursor is not one this server gave")
        before_id = int(cursor)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        query = await record_query(uow, filters)
        records, more = await uow.records.page(query, before_id=before_id, limit=limit)
    ids = [r.id for r in records]
    await record_read(ctx, AuditAction.RECORDS_SEARCHED, actor, remote=remote, cursor=cursor,
                       limit=limit, count=len(ids), message_ids=ids, reason=reason,
                       sender_channels=sorted(sender_channels(records)),
                       **filters.to_json())
    return {"messages": [record_json(r) for r in records],
            "next_cursor": str(ids[-1]) if more and ids else None,
            "filters": filters.to_json()}


async def message_history(ctx: AppContext, *, actor: Actor, message_id: int,
                          remote: str | None = None, reason: str | None = None) -> JSON:
    """One message with every revision (purged: metadata only). Audited as
    ``records.viewed``, with the reason."""
    await require_reader(ctx, actor, AuditAction.RECORDS_VIEWED, remote=remote,
                          message_id=message_id)
    reason = reason_of(actor, reason)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        record = await uow.records.get(message_id)
    if record is None:
        raise MessageNotFound()
    await record_read(ctx, AuditAction.RECORDS_VIEWED, actor, remote=remote, message_id=record.id,
                       channel_id=record.channel_id, revisions=len(record.revisions),
                       reason=reason, sender_channels=sorted(sender_channels([record])))
    return {"message": record_json(record)}
