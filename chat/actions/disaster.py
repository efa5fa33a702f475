"""Declaring and ending a disaster or a drill (災害対策本部の設置・廃止).

Declaring, in one transaction: the ``disasters`` row (the unique ``active`` index lets
one declaration win a race), the off-hours limit lifted for everyone (the policy's
disaster-mode flag, which every node re-reads within seconds), and the HQ channel
(災害対策本部) with the members the city configured (``disaster.hq_members``, staff
numbers), every active person with the crisis role, and the declarer. After commit every
connection on every node gets ``disaster.changed`` (the banner) on the ``everyone``
topic, and every phone a Web Push (urgent; a drill's says 訓練). Ending clears the flag
and announces the end the same way; the HQ channel and its records stay. Everything is
audited, a drill marked as one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from chat.actions.channels import join
from chat.actions.push import push_to_everyone
from chat.audit.record import audit_within
from chat.auth.policy import DISASTER_MODE_KEY
from chat.bus.topics import EVERYONE_TOPIC
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.disaster import (
    HQ_CHANNEL_NAME,
    HQ_CHANNEL_SLUG,
    DisasterRuleError,
    DisasterState,
    clean_name,
    may_declare,
)
from chat.domain.disaster_push import push_note
from chat.domain.roles import ChannelKind, Role
from chat.errors import BadRequest, CrisisOnly, DisasterActive, NoActiveDisaster
from chat.frames import encode
from chat.store.models import Channel, Disaster
from chat.store.uow import TxMode, UnitOfWork, unit_of_work
from chat.types import JSON

#: The staff numbers the city put on the HQ (a list in ``system_settings``).
HQ_MEMBERS_KEY = "disaster.hq_members"
HQ_SOURCE = "disaster"


def state_of(row: Disaster) -> DisasterState:
    return DisasterState(id=row.id, name=row.name, drill=row.drill,
                         declared_at=row.declared_at, declared_by=row.declared_by,
                         ended_at=row.ended_at)


def _check_role(role: str | None) -> None:
    """``role`` None: an operator at the server's console (the CLI), who may."""
    if role is not None and not may_declare(role):
        raise CrisisOnly()


async def current_disaster(ctx: AppContext) -> DisasterState | None:
    """The active disaster or drill, if any (what ``ready`` and the banner show)."""
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        row = await uow.disasters.active()
    return state_of(row) if row is not None else None


async def declare_disaster(ctx: AppContext, *, name: str, drill: bool, by: str,
                           actor_user_id: int | None = None,
                           actor_role: str | None = None) -> DisasterState:
    """Declare a disaster (or a drill). Raises CrisisOnly for a role that may not,
    BadRequest for a bad name, DisasterActive while another is declared."""
    _check_role(actor_role)
    try:
        cleaned = clean_name(name)
    except DisasterRuleError as error:
        raise BadRequest(str(error)) from None
    now = ctx.clock.now()
    try:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            if await uow.disasters.active() is not None:
                raise DisasterActive()
            row = Disaster(name=cleaned, drill=drill, active=1, declared_at=now,
                           declared_by=by, declared_by_user_id=actor_user_id)
            uow.disasters.add(row)
            await uow.flush()
            hq = await hq_channel(ctx, uow, now)
            row.hq_channel_id = hq.id
            joined = await _sync_hq_members(ctx, uow, hq, now, extra=[actor_user_id],
                                            by=by)
            await uow.system_settings.put(DISASTER_MODE_KEY, True, at=now, by=by)
            state = state_of(row)
            audit_within(ctx, uow, AuditAction.DISASTER_DECLARED, actor_user_id=actor_user_id,
                         by=by, disaster_id=row.id, name=cleaned, drill=drill,
                         hq_channel_id=hq.id, hq_joined=joined)
            _announce(ctx, uow, state)
    except IntegrityError:
        # Another node's declaration committed between our check and our insert.
        raise DisasterActive() from None
    return state


async def end_disaster(ctx: AppContext, *, by: str, actor_user_id: int | None = None,
                       actor_role: str | None = None) -> DisasterState:
    """End the active disaster or drill. Raises CrisisOnly, NoActiveDisaster."""
    _check_role(actor_role)
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        row = await uow.disasters.active(for_update=True)
        if row is None or not await uow.disasters.end(row.id, at=now, by=by):
            raise NoActiveDisaster()
        await uow.system_settings.put(DISASTER_MODE_KEY, False, at=now, by=by)
        state = DisasterState(id=row.id, name=row.name, drill=row.drill,
                              declared_at=row.declared_at, declared_by=row.declared_by,
                              ended_at=now)
        audit_within(ctx, uow, AuditAction.DISASTER_ENDED, actor_user_id=actor_user_id,
                     by=by, disaster_id=row.id, name=row.name, drill=row.drill)
        _announce(ctx, uow, state)
    return state


def _announce(ctx: AppContext, uow: UnitOfWork, state: DisasterState) -> None:
    frame = encode({"type": "disaster.changed",
                    "disaster": state.wire() if state.active else None,
                    "ended": None if state.active else state.wire()})

    async def publish() -> None:
        if ctx.policy is not None:
            ctx.policy.invalidate()
        await ctx.bus.publish(EVERYONE_TOPIC, frame)
    uow.on_commit(publish)
    push_to_everyone(ctx, uow, push_note(state),
                     name=f"push disaster {state.id} {'declared' if state.active else 'ended'}")


async def hq_channel(ctx: AppContext, uow: UnitOfWork, now: datetime) -> Channel:
    """The HQ channel (災害対策本部), made on the first declaration and kept after."""
    channel = await uow.channels.by_slug(HQ_CHANNEL_SLUG)
    if channel is not None:
        return channel
    channel = Channel(kind=ChannelKind.GROUP, name=HQ_CHANNEL_NAME, slug=HQ_CHANNEL_SLUG,
                      last_seq=0, last_version=0, created_at=now, created_by=None)
    uow.channels.add(channel)
    await uow.flush()
    return channel


async def hq_member_ids(ctx: AppContext, uow: UnitOfWork) -> list[int]:
    """Who belongs on the HQ: the configured staff numbers and the crisis role."""
    configured = (await uow.system_settings.values([HQ_MEMBERS_KEY])).get(HQ_MEMBERS_KEY)
    numbers = [str(n) for n in configured] if isinstance(configured, list) else []
    people = [*await uow.users.active_by_staff_numbers(numbers),
              *await uow.users.active_with_roles([Role.CRISIS.value])]
    return sorted({person.id for person in people})


async def _sync_hq_members(ctx: AppContext, uow: UnitOfWork, hq: Channel, now: datetime, *,
                           extra: Sequence[int | None], by: str) -> int:
    """Join whoever belongs on the HQ and is not in it yet; nobody is removed (people
    added by hand during a disaster stay). Returns how many joined."""
    wanted = set(await hq_member_ids(ctx, uow)) | {i for i in extra if i is not None}
    present = set(await uow.channels.member_ids(hq.id))
    for user_id in sorted(wanted - present):
        join(ctx, uow, hq, user_id, source=HQ_SOURCE, now=now, by=by)
    return len(wanted - present)


async def set_hq_members(ctx: AppContext, staff_numbers: Sequence[str], *, by: str,
                         actor_user_id: int | None = None) -> list[str]:
    """Configure who joins the HQ when a disaster is declared (staff numbers; unknown
    ones refused). While one is active, they join at once."""
    cleaned = sorted({n.strip() for n in staff_numbers if n.strip()})
    now = ctx.clock.now()
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        found = {u.staff_number for u in await uow.users.active_by_staff_numbers(cleaned)}
        unknown = [n for n in cleaned if n not in found]
        if unknown:
            raise BadRequest(f"unknown staff numbers: {', '.join(unknown)}")
        await uow.system_settings.put(HQ_MEMBERS_KEY, cleaned, at=now, by=by)
        audit_within(ctx, uow, AuditAction.DISASTER_HQ_MEMBERS_SET,
                     actor_user_id=actor_user_id, by=by, staff_numbers=cleaned)
        if await uow.disasters.active() is not None:
            await _sync_hq_members(ctx, uow, await hq_channel(ctx, uow, now), now,
                                   extra=[], by=by)
    return cleaned


def disaster_json(state: DisasterState | None) -> JSON | None:
    return state.wire() if state is not None else None


async def recent_disasters(ctx: AppContext, *, limit: int = 20) -> list[DisasterState]:
    """The latest declarations and drills, newest first (the console's history)."""
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        rows = await uow.disasters.recent(limit=limit)
    return [state_of(row) for row in rows]


async def configured_hq_members(ctx: AppContext) -> list[str]:
    """The staff numbers the city put on the HQ (what ``set_hq_members`` stored)."""
    async with unit_of_work(ctx.db, TxMode.SHORT_READ) as uow:
        configured = (await uow.system_settings.values([HQ_MEMBERS_KEY])).get(HQ_MEMBERS_KEY)
    return [str(n) for n in configured] if isinstance(configured, list) else []
