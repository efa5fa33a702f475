"""Call presence: who is being rung or is on the phone, derived from the calls the PBX
reported (docs/pbx.md §6). Published on the bus after commit, read as the snapshot a
connecting client gets, and swept when the PBX's end event was lost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from chat.bus.topics import CALL_PRESENCE_TOPIC
from chat.context import AppContext
from chat.domain import calls as call_rules
from chat.domain.calls import CallPresence, CallState, Direction
from chat.frames import encode
from chat.store.models import PbxCall
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

SWEEP_BATCH = 200


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


async def show_presence(ctx: AppContext, uow: UnitOfWork, call: PbxCall, state: CallState,
                        now: datetime) -> None:
    """Set what ``call`` in ``state`` shows beside its people, with the deadline it lapses
    at, and announce it after commit when it changed."""
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
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
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
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        if not await uow.pbx.lapsed_presence(now, limit=1):
            return 0
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        cleared: list[PbxCall] = []
        for call in await uow.pbx.lapsed_presence(now, limit=SWEEP_BATCH):
            if await uow.pbx.clear_lapsed_presence(call.id, now):
                cleared.append(call)
        affected = {u for c in cleared for u in (c.user_id, c.peer_user_id) if u is not None}
        await _publish_presence(ctx, uow, affected, now)
    return len(cleared)
