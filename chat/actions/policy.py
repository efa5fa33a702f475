"""Changing the off-hours policy: working hours and holidays, exempt roles, disaster mode.

Values live in ``system_settings`` so every node sees them (each caches them for a few
seconds, :mod:`chat.auth.policy`). Every change is audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chat.audit.record import audit_within
from chat.auth.policy import (
    DISASTER_MODE_KEY,
    KEYS,
    OFF_HOURS_ROLES_KEY,
    WORKING_HOURS_KEY,
    AccessPolicy,
)
from chat.context import AppContext
from chat.domain.audit_actions import AuditAction
from chat.domain.hours import WorkingHours
from chat.domain.roles import Role
from chat.errors import BadRequest
from chat.store.uow import TxMode, unit_of_work


async def current_policy(ctx: AppContext) -> tuple[AccessPolicy, dict[str, Any]]:
    """The policy in force and the raw stored values (absent keys use the defaults)."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        values = await uow.system_settings.values(KEYS)
    return AccessPolicy.from_values(values), values


async def set_working_hours(ctx: AppContext, config: Mapping[str, Any], *, by: str,
                            actor_user_id: int | None = None) -> WorkingHours:
    try:
        hours = WorkingHours.from_mapping(config)
    except ValueError as error:
        raise BadRequest(f"working hours: {error}") from None
    await _put(ctx, WORKING_HOURS_KEY, dict(config), by=by, actor_user_id=actor_user_id,
               action=AuditAction.POLICY_WORKING_HOURS_SET, holidays=len(hours.holidays))
    return hours


async def set_disaster_mode(ctx: AppContext, on: bool, *, by: str,
                            actor_user_id: int | None = None) -> None:
    await _put(ctx, DISASTER_MODE_KEY, on, by=by, actor_user_id=actor_user_id,
               action=(AuditAction.POLICY_DISASTER_MODE_ON if on
                       else AuditAction.POLICY_DISASTER_MODE_OFF))


async def set_off_hours_roles(ctx: AppContext, roles: Iterable[str], *, by: str,
                              actor_user_id: int | None = None) -> list[str]:
    chosen = sorted(set(roles))
    known = {role.value for role in Role}
    unknown = [role for role in chosen if role not in known]
    if unknown:
        raise BadRequest(f"unknown roles: {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
    await _put(ctx, OFF_HOURS_ROLES_KEY, chosen, by=by, actor_user_id=actor_user_id,
               action=AuditAction.POLICY_OFF_HOURS_ROLES_SET, roles=chosen)
    return chosen


async def _put(ctx: AppContext, key: str, value: Any, *, by: str, actor_user_id: int | None,
               action: AuditAction, **detail: Any) -> None:
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.system_settings.put(key, value, at=ctx.clock.now(), by=by)
        audit_within(ctx, uow, action, actor_user_id=actor_user_id, by=by, **detail)
    if ctx.policy is not None:
        ctx.policy.invalidate()
