"""A person's own access record: when an auditor (or an admin through the client) read
or exported the messages they sent, in which channel, and the reason given.

Staff told the city they felt watched (監視されている); seeing each access, its time and
its stated reason answers that better than a promise. The record is built from the audit
log itself (``records.searched``, ``records.viewed``, ``records.exported`` and
``messages.read``), so nothing is kept twice and nothing can be shown that was not
audited. Matching:

* entries with ``sender_channels`` (written since this feature): the person's id in it
  says which channels; search and view entries also carry ``message_ids``;
* entries with message ids only (``messages.read``, and search/view entries written
  before ``sender_channels``): the ids are resolved to the person's own messages;
* exports written before ``sender_channels`` name no senders and are not shown (their
  filters could be re-run, but today's messages are not what was exported then).

The accessor is shown by role (監査担当 / 管理者 / コマンドライン), not by name: the city
asked that staff see *that* and *why* their messages were read, while the auditor's name
stays with the audit office (it is in the audit log for anyone who reviews it). A
person's own reads are left out.

While an active legal hold marked ``confidential`` covers the messages (or, for an
export, could cover the person's messages in that channel), the entry is hidden; once
the hold is released it appears.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat.actions.retention import active_hold_scopes
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.dates import wire_time
from chat.domain.retention import HoldScope
from chat.domain.roles import Role
from chat.store.audit import access_entries, sent_by
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON

ACCESS_ACTIONS = (AuditAction.RECORDS_SEARCHED, AuditAction.RECORDS_VIEWED,
                  AuditAction.RECORDS_EXPORTED, AuditAction.MESSAGES_READ)
KINDS = {AuditAction.RECORDS_SEARCHED.value: "search", AuditAction.RECORDS_VIEWED.value: "view",
         AuditAction.RECORDS_EXPORTED.value: "export", AuditAction.MESSAGES_READ.value: "read"}
MAX_ROWS = 200


@dataclass(frozen=True)
class _Touch:
    """One of the person's messages an entry read (``created_at`` None: an export, which
    records channels, not messages)."""

    channel_id: int
    created_at: datetime | None


def _detail(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _message_ids(detail: dict[str, Any]) -> list[int]:
    ids = detail.get("message_ids")
    found = [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []
    if isinstance(detail.get("message_id"), int):
        found.append(detail["message_id"])
    return found


def _channels_named(detail: dict[str, Any], user_id: int) -> list[int] | None:
    """The channels ``sender_channels`` names for ``user_id`` (None: not recorded)."""
    pairs = detail.get("sender_channels")
    if not isinstance(pairs, list):
        return None
    prefix = f"{user_id}:"
    return sorted({int(p[len(prefix):]) for p in pairs
                   if isinstance(p, str) and p.startswith(prefix) and p[len(prefix):].isdigit()})


def _hidden(touch: _Touch, user_id: int, holds: list[HoldScope]) -> bool:
    """Whether an active confidential hold covers this (an export's date is unknown: any
    hold that could cover the person's messages in that channel hides it)."""
    for hold in holds:
        if touch.created_at is not None:
            if hold.covers(sender_id=user_id, channel_id=touch.channel_id,
                           created_at=touch.created_at):
                return True
        elif HoldScope(hold_id=hold.hold_id, user_id=hold.user_id, channel_id=hold.channel_id,
                       conversation_ids=hold.conversation_ids).covers(
                sender_id=user_id, channel_id=touch.channel_id, created_at=datetime.min):
            return True
    return False


def _accessor(role: str | None, by_cli: bool) -> str:
    if by_cli:
        return "cli"
    if role == Role.AUDITOR:
        return "auditor"
    if role == Role.ADMIN:
        return "admin"
    return "other"


async def my_access(ctx: AppContext, actor: Principal) -> JSON:
    """``{"entries": [...]}``, newest first, at most :data:`MAX_ROWS`: each an access to
    the actor's messages in one channel — ``at`` (UTC; the client shows Japan time),
    ``kind`` (search | view | export | read), ``accessor`` (auditor | admin | cli |
    other), ``reason`` (None when none was recorded), ``channel`` {id, name, kind} and
    ``messages`` (how many of theirs; None for an export)."""
    user_id = actor.user_id
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        events = await access_entries(uow.audit, user_id=user_id,
                                      actions=[a.value for a in ACCESS_ACTIONS])
        details = {e.seq: _detail(e.detail) for e in events if e.actor_user_id != user_id}
        wanted = [i for d in details.values() for i in _message_ids(d)]
        mine = await sent_by(uow.audit, user_id=user_id, message_ids=wanted)
        holds = await active_hold_scopes(uow, confidential_only=True)
        touches: list[tuple[Any, list[_Touch]]] = []
        for event in events:
            detail = details.get(event.seq)
            if detail is None:
                continue
            if event.action == AuditAction.RECORDS_EXPORTED.value:
                named = _channels_named(detail, user_id) or []
                found = [_Touch(c, None) for c in named]
            else:
                found = [_Touch(*mine[i]) for i in _message_ids(detail) if i in mine]
            found = [t for t in found if not _hidden(t, user_id, holds)]
            if found:
                touches.append((event, found))
        roles: dict[int, str | None] = {}
        channels: dict[int, JSON] = {}
        for event, found in touches:
            if event.actor_user_id is not None and event.actor_user_id not in roles:
                user = await uow.users.get(event.actor_user_id)
                roles[event.actor_user_id] = user.role if user else None
            for touch in found:
                if touch.channel_id not in channels:
                    channel = await uow.channels.get(touch.channel_id)
                    channels[touch.channel_id] = {
                        "id": touch.channel_id, "name": channel.name if channel else None,
                        "kind": channel.kind if channel else None}
    rows: list[JSON] = []
    for event, found in touches:
        detail = details[event.seq]
        reason = detail.get("reason") if isinstance(detail.get("reason"), str) else None
        accessor = _accessor(roles.get(event.actor_user_id) if event.actor_user_id else None,
                             by_cli=event.actor_user_id is None)
        counts: dict[int, int] = {}
        for touch in found:
            counts[touch.channel_id] = counts.get(touch.channel_id, 0) + 1
        kind = KINDS.get(event.action, "read")
        for channel_id, count in sorted(counts.items()):
            rows.append({"at": wire_time(event.occurred_at), "kind": kind,
                         "accessor": accessor, "reason": reason,
                         "channel": channels[channel_id],
                         "messages": None if kind == "export" else count})
    return {"entries": _merge(rows)[:MAX_ROWS]}


def _merge(rows: list[JSON]) -> list[JSON]:
    """Rows of the same minute, channel, kind, accessor and reason as one (paging through
    a search is one access), counts added."""
    merged: dict[tuple[Any, ...], JSON] = {}
    for row in rows:
        key = (row["at"][:16], row["channel"]["id"], row["kind"], row["accessor"],
               row["reason"])
        if key in merged:
            kept = merged[key]
            if kept["messages"] is not None and row["messages"] is not None:
                kept["messages"] += row["messages"]
        else:
            merged[key] = dict(row)
    return list(merged.values())
