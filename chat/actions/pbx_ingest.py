"""Ingesting PBX call events: each webhook delivery is recorded once in the event log and
applied to its call (docs/pbx.md §1, §3-4), whichever format it came in; and reading the
event log back.

A webhook is answered fast: the event is stored and applied to its call in one short
transaction (the call's row lock, at most one notice), and everything clients see (call
presence, the notice) is published on the bus after commit. Nothing waits on a client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from chat.actions.call_presence import show_presence
from chat.actions.missed_calls import _missed_call_notice
from chat.actions.pbx_directory import user_of_number
from chat.context import AppContext
from chat.domain import calls as call_rules
from chat.domain.calls import CallState, Direction
from chat.domain.pbx_formats.events import PbxEventIn, UnknownEvent
from chat.domain.pbx_formats.registry import UnknownPbxFormat, format_of_source
from chat.store.models import PbxCall, PbxEvent
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON


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
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
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
        await show_presence(ctx, uow, call, after.state, now)
    if transition.needs_callback and call.direction != Direction.OUTBOUND:
        await _missed_call_notice(ctx, uow, call, event, after, now)
    return True, call.state


async def _new_call(uow: UnitOfWork, source: str, event: PbxEventIn, now: datetime) -> PbxCall:
    peer = None
    if event.direction is Direction.INTERNAL and event.from_number is not None:
        peer = await user_of_number(uow, event.from_number)
    call = PbxCall(
        source=source, call_id=event.call_id, direction=event.direction.value,
        from_number=event.from_number.value if event.from_number else None,
        to_number=event.to_number.value if event.to_number else None,
        extension=event.extension.value if event.extension else None,
        state=CallState.RINGING.value, seen="", first_event_at=now, updated_at=now,
        user_id=await user_of_number(uow, event.extension) if event.extension else None,
        peer_user_id=peer)
    uow.pbx.add_call(call)
    await uow.flush()
    return call


# --- the event log ---------------------------------------------------------------------------

async def recent_events(ctx: AppContext, *, limit: int = 100, outcome: str | None = None
                        ) -> list[JSON]:
    """The newest accepted webhook deliveries (the event log), newest first."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        events = await uow.pbx.recent_events(limit=limit, outcome=outcome)
    return [{**event_log_json(e), "secret_name": e.secret_name,
             "received_at": e.received_at, "occurred_at": e.occurred_at} for e in events]


def event_log_json(event: PbxEvent) -> JSON:
    """One event log entry; the body as its format shows it (the native JSON parsed)."""
    payload: Any = event.payload or None  # blank: retention took it (CHAT_PBX_LOG_DAYS)
    if payload is not None:
        try:
            payload = format_of_source(event.source).logged_payload(payload)
        except UnknownPbxFormat:        # a format since removed: the text as stored
            pass
    return {"id": event.id, "source": event.source, "delivery_id": event.delivery_id,
            "type": event.event_type, "call_id": event.call_id, "outcome": event.outcome,
            "payload": payload}
