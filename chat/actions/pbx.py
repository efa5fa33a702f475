"""The PBX integration: webhook secrets, the event log, calls, call presence, missed-call
notices and the extension directory (docs/pbx.md).

A webhook is answered fast: the event is stored and applied to its call in one short
transaction (the call's row lock, at most one notice), and everything clients see (call
presence, the notice) is published on the bus after commit. Nothing waits on a client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError

from chat.actions.audit import audit_within
from chat.actions.notices import follow_up_of, phone_channel, post_notice, revise_notice
from chat.context import AppContext
from chat.domain import calls as call_rules
from chat.domain.calls import CallPresence, CallState, Direction
from chat.domain.cards.missed_call import MissedCall
from chat.domain.directory import DirectoryDiff, DirectoryRow, DirectoryTarget, diff_directory
from chat.domain.kinds import MessageKind
from chat.domain.notices import Caller, FollowUp
from chat.domain.numbers import Number
from chat.domain.pbx_formats import PbxEventIn, UnknownEvent
from chat.domain.webhooks import SigningKey, new_secret, secret_key
from chat.errors import BadRequest, ChannelNotFound, PbxSecretExists, PbxSecretNotFound
from chat.frames import encode
from chat.store.models import PbxCall, PbxDirectoryEntry, PbxEvent, PbxSecret, User
from chat.store.uow import UnitOfWork, unit_of_work
from chat.types import JSON

log = logging.getLogger(__name__)

CALL_PRESENCE_TOPIC = "call.presence"   # chat.hub.CALL_PRESENCE_TOPIC
SOURCE_NATIVE = "native"
SOURCE_TWILIO = "twilio"
KIND_STANDARD = "standard"
KIND_TWILIO = "twilio"
SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SWEEP_BATCH = 200
_SEAL_LABEL = b"tsunagu/pbx-secret-seal/v1"


# --- secrets -------------------------------------------------------------------------------

def _seal_key(ctx: AppContext) -> bytes:
    return hmac.new(ctx.secrets.session_key, _SEAL_LABEL, hashlib.sha256).digest()


def seal(ctx: AppContext, value: str) -> str:
    """AES-GCM under a key derived from the instance secrets (nodes share the file)."""
    nonce = os.urandom(12)
    sealed = AESGCM(_seal_key(ctx)).encrypt(nonce, value.encode(), _SEAL_LABEL)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(ctx: AppContext, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed)
    return AESGCM(_seal_key(ctx)).decrypt(raw[:12], raw[12:], _SEAL_LABEL).decode()


async def create_secret(ctx: AppContext, *, name: str, by: str, kind: str = KIND_STANDARD,
                        value: str | None = None) -> str:
    """Store a new active secret and return it, for the operator to copy once into the
    PBX. ``standard``: a fresh ``whsec_`` secret is generated; ``twilio``: ``value`` is
    the account's Auth Token. Raises PbxSecretExists, BadRequest."""
    if not SECRET_NAME.match(name):
        raise BadRequest("A secret name is 1 to 64 letters, digits, '.', '_' or '-'")
    if kind == KIND_STANDARD:
        value = new_secret()
    elif kind == KIND_TWILIO:
        if not value or not value.strip() or len(value) > 200:
            raise BadRequest("A Twilio Auth Token is required")
        value = value.strip()
    else:
        raise BadRequest(f"unknown secret kind {kind!r}")
    async with unit_of_work(ctx.db, write=True) as uow:
        if await uow.pbx.secret(name) is not None:
            raise PbxSecretExists()
        secret = PbxSecret(name=name, kind=kind, sealed=seal(ctx, value),
                           created_at=ctx.clock.now(), created_by=by)
        uow.pbx.add_secret(secret)
        await uow.flush()
        # The audit log names the secret, never its value.
        audit_within(ctx, uow, "pbx.secret_created", secret_id=secret.id, name=name,
                     kind=kind, by=by)
    return value


async def list_secrets(ctx: AppContext) -> list[JSON]:
    async with unit_of_work(ctx.db, write=False) as uow:
        return [{"id": s.id, "name": s.name, "kind": s.kind, "created_at": s.created_at,
                 "created_by": s.created_by, "retired_at": s.retired_at}
                for s in await uow.pbx.secrets()]


async def retire_secret(ctx: AppContext, *, name: str, by: str) -> None:
    """Stop accepting a secret (after the PBX switched to a newer one)."""
    async with unit_of_work(ctx.db, write=True) as uow:
        secret = await uow.pbx.secret(name)
        if secret is None or secret.retired_at is not None:
            raise PbxSecretNotFound()
        secret.retired_at, secret.retired_by = ctx.clock.now(), by
        audit_within(ctx, uow, "pbx.secret_retired", secret_id=secret.id, name=name,
                     kind=secret.kind, by=by)


async def signing_keys(ctx: AppContext, kind: str) -> list[SigningKey]:
    """The active secrets of ``kind`` as HMAC keys (a secret sealed under other instance
    secrets is skipped and logged)."""
    async with unit_of_work(ctx.db, write=False) as uow:
        rows = await uow.pbx.active_secrets(kind)
    keys = []
    for row in rows:
        try:
            value = unseal(ctx, row.sealed)
        except (InvalidTag, ValueError):
            log.error("PBX secret %r cannot be unsealed: another instance's secrets file?",
                      row.name)
            continue
        keys.append(SigningKey(row.name, secret_key(value) if kind == KIND_STANDARD
                               else value.encode()))
    return keys


# --- ingesting events ----------------------------------------------------------------------

@dataclass(frozen=True)
class IngestOutcome:
    """``applied`` (the call changed), ``no_change`` (a late or repeated fact),
    ``duplicate`` (this delivery was stored before: no second effect) or ``ignored``
    (an unknown event type, recorded)."""

    status: str
    event_id: int
    call_state: str | None = None


async def ingest_event(ctx: AppContext, *, source: str, delivery_id: str, secret_name: str,
                       event: PbxEventIn | UnknownEvent, payload: str) -> IngestOutcome:
    """Record one delivery in the event log and apply it to its call, once per
    ``(source, delivery_id)``. Two deliveries racing (a PBX retrying in parallel, or two
    events creating one call) resolve on the unique constraints: the loser retries and
    then sees the winner's row."""
    for attempt in range(3):
        try:
            return await _ingest_once(ctx, source=source, delivery_id=delivery_id,
                                      secret_name=secret_name, event=event, payload=payload)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _ingest_once(ctx: AppContext, *, source: str, delivery_id: str, secret_name: str,
                       event: PbxEventIn | UnknownEvent, payload: str) -> IngestOutcome:
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=True) as uow:
        seen = await uow.pbx.event_by_delivery(source, delivery_id)
        if seen is not None:
            return IngestOutcome("duplicate", seen.id)
        record = PbxEvent(source=source, delivery_id=delivery_id, secret_name=secret_name,
                          event_type=event.type, call_id=event.call_id, received_at=now,
                          payload=payload, outcome="ignored", occurred_at=None)
        state: str | None = None
        if isinstance(event, PbxEventIn):
            record.occurred_at = event.occurred_at
            changed, state = await _apply(ctx, uow, source, event, now)
            record.outcome = "applied" if changed else "no_change"
        uow.pbx.add_event(record)
        await uow.flush()
        return IngestOutcome(record.outcome, record.id, state)


async def _apply(ctx: AppContext, uow: UnitOfWork, source: str, event: PbxEventIn,
                 now: datetime) -> tuple[bool, str]:
    """Apply one event to its call; returns (whether the call changed, its state)."""
    call = await uow.pbx.call(source, event.call_id, for_update=True)
    if call is None:
        call = await _new_call(uow, source, event, now)
    model = call_rules.Call(
        seen=call_rules.parse_seen(call.seen),
        reason=call_rules.MissedReason(call.reason) if call.reason else None,
        ringing_at=call.ringing_at, answered_at=call.answered_at, ended_at=call.ended_at)
    transition = call_rules.apply(model, event.type, event.occurred_at, reason=event.reason)
    after = transition.after
    if after == model:
        return False, call.state
    call.seen = call_rules.format_seen(after.seen)
    call.state = after.state.value
    call.reason = after.reason.value if after.reason else None
    call.ringing_at, call.answered_at, call.ended_at = (
        after.ringing_at, after.answered_at, after.ended_at)
    call.updated_at = now
    if transition.changed:
        await _show_presence(ctx, uow, call, after.state, now)
    if transition.needs_callback and call.direction != Direction.OUTBOUND:
        await _missed_call_notice(ctx, uow, call, event, after, now)
    return True, call.state


async def _new_call(uow: UnitOfWork, source: str, event: PbxEventIn, now: datetime) -> PbxCall:
    peer = None
    if event.direction is Direction.INTERNAL and event.from_number is not None:
        peer = await _user_of(uow, event.from_number)
    call = PbxCall(
        source=source, call_id=event.call_id, direction=event.direction.value,
        from_number=event.from_number.value if event.from_number else None,
        to_number=event.to_number.value if event.to_number else None,
        extension=event.extension.value if event.extension else None,
        state=CallState.RINGING.value, seen="", first_event_at=now, updated_at=now,
        user_id=await _user_of(uow, event.extension) if event.extension else None,
        peer_user_id=peer)
    uow.pbx.add_call(call)
    await uow.flush()
    return call


# --- the directory: who a number is ------------------------------------------------------

async def _user_of(uow: UnitOfWork, number: Number) -> int | None:
    """The person whose extension (or direct-in number) this is: the PBX directory
    first, then the staff record's extension."""
    entry = await uow.pbx.directory_entry(number.value)
    if entry is not None:
        return entry.user_id if entry.kind == "user" else None
    if number.is_extension:
        user = await uow.pbx.user_with_extension(number.value)
        return user.id if user else None
    return None


async def caller_name(uow: UnitOfWork, number: Number | None) -> str | None:
    """A name for a number: a colleague's extension, a desk phone, or a known contact."""
    if number is None:
        return None
    entry = await uow.pbx.directory_entry(number.value)
    if entry is not None:
        if entry.kind == "user" and entry.user_id is not None:
            user = await uow.users.get(entry.user_id)
            return user.name if user else entry.name or None
        return entry.name or None
    if number.is_extension:
        user = await uow.pbx.user_with_extension(number.value)
        return user.name if user else None
    return None


@dataclass(frozen=True)
class NoticeTarget:
    kind: str            # "user" | "desk"
    name: str
    channel_id: int


async def notice_target(ctx: AppContext, uow: UnitOfWork, extension: str,
                        now: datetime) -> NoticeTarget | None:
    """Where a missed call to ``extension`` is posted: the person's 「電話」 channel, or
    the channel a desk-group phone is bound to; None for a number nobody owns."""
    entry = await uow.pbx.directory_entry(extension)
    user: User | None = None
    if entry is not None and entry.kind == "desk" and entry.channel_id is not None:
        return NoticeTarget("desk", entry.name, entry.channel_id)
    if entry is not None and entry.kind == "user" and entry.user_id is not None:
        user = await uow.users.get(entry.user_id)
    elif entry is None:
        user = await uow.pbx.user_with_extension(extension)
    if user is None or not user.is_active:
        return None
    channel = await phone_channel(ctx, uow, user, now)
    return NoticeTarget("user", user.name, channel.id)


# --- missed-call notices ---------------------------------------------------------------------

async def _missed_call_notice(ctx: AppContext, uow: UnitOfWork, call: PbxCall,
                              event: PbxEventIn, after: call_rules.Call, now: datetime) -> None:
    if call.extension is None:
        return
    target = await notice_target(ctx, uow, call.extension, now)
    if target is None:
        log.info("missed call %s to %s: nobody owns that number", call.call_id,
                 call.extension)
        return
    number = Number(call.from_number) if call.from_number else None
    caller = Caller(number, await caller_name(uow, number) or event.caller_name)
    reason = "voicemail" if after.state is CallState.VOICEMAIL else (
        after.reason.value if after.reason else "no_answer")
    at = after.ended_at or event.occurred_at
    country = ctx.settings.pbx_country_code
    await uow.channels.lock(target.channel_id)
    existing = (await uow.notices.open_missed_call_notice(target.channel_id, number.value,
                                                          call.extension)
                if number is not None else None)
    if existing is not None:
        message = await uow.messages.get(existing.message_id, for_update=True)
        if message is not None and message.deleted_at is None:
            existing.count += 1
            existing.first_at = min(existing.first_at, at)
            existing.last_at = max(existing.last_at, at)
            missed = MissedCall(caller, target.kind, target.name, call.extension, reason,
                                existing.count, existing.first_at, existing.last_at)
            await revise_notice(ctx, uow, message, now=now, body=missed.body(country),
                                card=missed.card(country, await follow_up_of(uow, existing)))
            call.notice_message_id = message.id
            return
    missed = MissedCall(caller, target.kind, target.name, call.extension, reason, 1, at, at)
    message, _ = await post_notice(
        ctx, uow, channel_id=target.channel_id, kind=MessageKind.MISSED_CALL,
        body=missed.body(country), card=missed.card(country, FollowUp()),
        now=now, caller_number=number.value if number else None,
        target_key=call.extension, actor_user_id=None)
    call.notice_message_id = message.id


# --- call presence -----------------------------------------------------------------------------

def _shown(call: PbxCall, user_id: int) -> str | None:
    """What ``call`` shows beside ``user_id``: the extension that rings shows ringing;
    whoever placed the call (outbound, or the calling side of an internal call) is on
    the phone from the first ring."""
    if call.presence is None:
        return None
    if call.direction == Direction.OUTBOUND or user_id == call.peer_user_id:
        return CallPresence.ON_CALL.value
    return call.presence


def aggregate_presence(calls: Sequence[PbxCall], user_ids: Sequence[int] | None = None
                       ) -> dict[int, str]:
    """Per person: on_call beats ringing; people with neither are absent (or ``idle``
    when listed in ``user_ids``)."""
    result: dict[int, str] = dict.fromkeys(user_ids or (), "idle")
    for call in calls:
        for user_id in (call.user_id, call.peer_user_id):
            if user_id is None or (user_ids is not None and user_id not in user_ids):
                continue
            shown = _shown(call, user_id)
            if shown == CallPresence.ON_CALL or (shown and result.get(user_id) != "on_call"):
                result[user_id] = shown
    return result


async def _publish_presence(ctx: AppContext, uow: UnitOfWork, user_ids: set[int],
                            now: datetime) -> None:
    """After commit, tell every client what each of ``user_ids`` now shows, as read in
    this transaction (another call of theirs may still ring)."""
    if not user_ids:
        return
    await uow.flush()
    ordered = sorted(user_ids)
    statuses = aggregate_presence(await uow.pbx.presence_calls(now, user_ids=ordered), ordered)
    frames = [encode({"type": "call.presence", "user_id": u, "status": s})
              for u, s in sorted(statuses.items())]

    async def publish() -> None:
        for frame in frames:
            await ctx.bus.publish(CALL_PRESENCE_TOPIC, frame)

    uow.on_commit(publish)


async def _show_presence(ctx: AppContext, uow: UnitOfWork, call: PbxCall, state: CallState,
                         now: datetime) -> None:
    presence = call_rules.presence_of(state)
    before = call.presence
    if presence is None:
        call.presence, call.presence_until = None, None
    else:
        lifetime = (ctx.settings.pbx_ringing_timeout_seconds
                    if presence is CallPresence.RINGING else ctx.settings.pbx_max_call_seconds)
        call.presence, call.presence_until = presence.value, now + timedelta(seconds=lifetime)
    if before != call.presence:
        await _publish_presence(
            ctx, uow, {u for u in (call.user_id, call.peer_user_id) if u is not None}, now)


async def call_presence(ctx: AppContext) -> tuple[list[JSON], float]:
    """Everyone whose extension rings or who is on a call now (the ready snapshot), and
    the seconds until the first of those calls lapses by time (inf: none showing)."""
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=False, short=True) as uow:
        calls = await uow.pbx.presence_calls(now)
    statuses = aggregate_presence(calls)
    lapses_in = min(((c.presence_until - now).total_seconds() for c in calls
                     if c.presence_until is not None), default=math.inf)
    return [{"user_id": u, "status": s} for u, s in sorted(statuses.items())], lapses_in


async def expire_call_presence(ctx: AppContext) -> int:
    """Clear call states that outlived their deadline (the PBX's end event was lost):
    ringing after ``pbx_ringing_timeout_seconds``, on a call after
    ``pbx_max_call_seconds``. Every node may run this; the conditional update lets one
    of them clear (and announce) each call. Returns how many this node cleared."""
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=False) as uow:
        if not await uow.pbx.lapsed_presence(now, limit=1):
            return 0
    async with unit_of_work(ctx.db, write=True) as uow:
        cleared: list[PbxCall] = []
        for call in await uow.pbx.lapsed_presence(now, limit=SWEEP_BATCH):
            if await uow.pbx.clear_lapsed_presence(call.id, now):
                cleared.append(call)
        affected = {u for c in cleared for u in (c.user_id, c.peer_user_id) if u is not None}
        await _publish_presence(ctx, uow, affected, now)
    return len(cleared)


# --- the directory import ------------------------------------------------------------------------

@dataclass
class DirectoryReport:
    created: int = 0
    updated: int = 0
    removed: int = 0

    def summary(self) -> str:
        return f"{self.created} added, {self.updated} updated, {self.removed} removed"


async def _resolve_directory(uow: UnitOfWork, rows: Sequence[DirectoryRow]
                             ) -> dict[str, DirectoryTarget]:
    """The file's rows with their targets resolved to ids. Raises BadRequest or
    ChannelNotFound when a staff number, department or channel vanished since the file
    was validated."""
    desired: dict[str, DirectoryTarget] = {}
    for row in rows:
        user_id = channel_id = None
        if row.kind == "user":
            user = await uow.users.by_staff_number(row.target)
            if user is None:
                raise BadRequest(f"{row.number}: staff number {row.target} does not exist")
            user_id = user.id
        elif row.kind == "desk":
            channel_id = await _desk_channel(uow, row.target)
        desired[row.number] = DirectoryTarget(kind=row.kind, user_id=user_id,
                                              channel_id=channel_id, name=row.name)
    return desired


def _stored(entry: PbxDirectoryEntry) -> DirectoryTarget:
    return DirectoryTarget(kind=entry.kind, user_id=entry.user_id,
                           channel_id=entry.channel_id, name=entry.name)


async def preview_directory(ctx: AppContext, rows: Sequence[DirectoryRow]) -> DirectoryDiff:
    """What :func:`import_directory` would change, by the same rule, writing nothing."""
    async with unit_of_work(ctx.db, write=False) as uow:
        desired = await _resolve_directory(uow, rows)
        current = {e.number: _stored(e) for e in await uow.pbx.directory()}
    return diff_directory(desired, current)


async def import_directory(ctx: AppContext, rows: Sequence[DirectoryRow], *,
                           by: str, actor_user_id: int | None = None) -> DirectoryReport:
    """Make the PBX directory exactly ``rows`` (validated whole by
    ``chat.domain.directory.parse_directory``): add, update, and remove numbers no longer
    listed (:func:`chat.domain.directory.diff_directory`, the rule the preview shows).
    Idempotent. Raises BadRequest or ChannelNotFound when a staff number, department or
    channel vanished since validation."""
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, write=True) as uow:
        desired = await _resolve_directory(uow, rows)
        entries = {e.number: e for e in await uow.pbx.directory()}
        diff = diff_directory(desired, {n: _stored(e) for n, e in entries.items()})
        for number in diff.added:
            target = desired[number]
            uow.pbx.add_directory_entry(PbxDirectoryEntry(
                number=number, kind=target.kind, user_id=target.user_id,
                channel_id=target.channel_id, name=target.name, updated_at=now))
        for number in diff.updated:
            entry, target = entries[number], desired[number]
            entry.kind, entry.user_id = target.kind, target.user_id
            entry.channel_id, entry.name = target.channel_id, target.name
            entry.updated_at = now
        await uow.pbx.remove_directory_entries(list(diff.removed))
        report = DirectoryReport(created=len(diff.added), updated=len(diff.updated),
                                 removed=len(diff.removed))
        audit_within(ctx, uow, "pbx.directory_imported", actor_user_id=actor_user_id,
                     by=by, created=report.created, updated=report.updated,
                     removed=report.removed)
    return report


async def _desk_channel(uow: UnitOfWork, target: str) -> int:
    """A desk phone's channel: ``#<channel id>`` (a group chat) or a department code."""
    if target.startswith("#"):
        channel = await uow.channels.get(int(target[1:]))
        if channel is None or channel.kind not in {"group", "department"}:
            raise ChannelNotFound(f"channel {target} is not a group or department channel")
        return channel.id
    department = await uow.departments.by_code(target)
    channel = await uow.channels.for_department(department.id) if department else None
    if channel is None:
        raise ChannelNotFound(f"department {target} has no channel")
    return channel.id


async def directory_listing(ctx: AppContext) -> list[JSON]:
    async with unit_of_work(ctx.db, write=False) as uow:
        return [{"number": e.number, "kind": e.kind, "user_id": e.user_id,
                 "channel_id": e.channel_id, "name": e.name}
                for e in await uow.pbx.directory()]


async def recent_events(ctx: AppContext, *, limit: int = 100, outcome: str | None = None
                        ) -> list[JSON]:
    """The newest accepted webhook deliveries (the event log), newest first."""
    async with unit_of_work(ctx.db, write=False) as uow:
        events = await uow.pbx.recent_events(limit=limit, outcome=outcome)
    return [{**event_log_json(e), "secret_name": e.secret_name,
             "received_at": e.received_at, "occurred_at": e.occurred_at} for e in events]


def event_log_json(event: PbxEvent) -> JSON:
    payload: Any = event.payload or None  # blank: retention took it (CHAT_PBX_LOG_DAYS)
    if payload is not None and event.source == SOURCE_NATIVE:
        payload = json.loads(payload)
    return {"id": event.id, "source": event.source, "delivery_id": event.delivery_id,
            "type": event.event_type, "call_id": event.call_id, "outcome": event.outcome,
            "payload": payload}

