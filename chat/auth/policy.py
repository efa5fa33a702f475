"""The off-hours policy as configured at run time, cached briefly on each node.

The rules live in :mod:`chat.domain.hours`; this module loads the city's working hours,
the roles allowed off-hours and the disaster-mode flag from ``system_settings`` (shared
by every node), and caches them for a few seconds so a request costs no query. A change
made on any node therefore takes effect everywhere within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chat.domain.hours import (
    DEFAULT_OFF_HOURS_ROLES,
    AccessDecision,
    WorkingHours,
    may_connect,
)
from chat.errors import OffHours
from chat.store.db import Database
from chat.store.uow import TxMode, unit_of_work
from chat.types import Clock

WORKING_HOURS_KEY = "working_hours"
DISASTER_MODE_KEY = "disaster_mode"
OFF_HOURS_ROLES_KEY = "off_hours_roles"
KEYS = (WORKING_HOURS_KEY, DISASTER_MODE_KEY, OFF_HOURS_ROLES_KEY)
CACHE_SECONDS = 5.0
# While a connection is allowed only by disaster mode, look again this often: the mode
# may be lifted.
RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class AccessPolicy:
    hours: WorkingHours
    disaster_mode: bool
    off_hours_roles: frozenset[str]

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> AccessPolicy:
        raw_hours = values.get(WORKING_HOURS_KEY)
        hours = WorkingHours.from_mapping(raw_hours) if raw_hours else WorkingHours()
        roles = values.get(OFF_HOURS_ROLES_KEY)
        return cls(hours=hours, disaster_mode=bool(values.get(DISASTER_MODE_KEY, False)),
                   off_hours_roles=frozenset(roles) if roles is not None
                   else DEFAULT_OFF_HOURS_ROLES)

    def decide(self, role: str, now: datetime) -> AccessDecision:
        return may_connect(role=role, now=now, hours=self.hours,
                           disaster_mode=self.disaster_mode,
                           off_hours_roles=self.off_hours_roles)

    def check(self, role: str, now: datetime) -> None:
        """Raise OffHours (with the reason in Japanese and English) unless allowed."""
        decision = self.decide(role, now)
        if not decision.allowed:
            raise OffHours(decision.code, decision.message_en, decision.message_ja)

    def next_check(self, role: str, now: datetime) -> datetime | None:
        """When a connection allowed now must be judged again: the end of the current
        opening interval for someone allowed only by working hours, soon for someone
        allowed only by disaster mode, never for the roles exempt from the policy."""
        if role in self.off_hours_roles:
            return None
        if self.hours.is_open(now):
            local = self.hours.to_local(now)
            for start, end in self.hours.intervals_on(local.date()):
                if start <= local.time() < end:
                    return datetime.combine(local.date(), end, tzinfo=self.hours.zone)
        return now + timedelta(seconds=RECHECK_SECONDS)


async def load_policy(db: Database) -> AccessPolicy:
    async with unit_of_work(db, TxMode.READ) as uow:
        values = await uow.system_settings.values(KEYS)
    return AccessPolicy.from_values(values)


class PolicySource:
    """The current policy for this node, or None when the policy is switched off."""

    def __init__(self, db: Database, clock: Clock, *, enabled: bool,
                 cache_seconds: float = CACHE_SECONDS) -> None:
        self._db = db
        self._clock = clock
        self._enabled = enabled
        self._cache_seconds = cache_seconds
        self._cached: AccessPolicy | None = None
        self._loaded_at = -1e18
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self._enabled

    def invalidate(self) -> None:
        self._cached = None

    async def current(self) -> AccessPolicy | None:
        if not self._enabled:
            return None
        async with self._lock:
            fresh = self._clock.monotonic() - self._loaded_at < self._cache_seconds
            if self._cached is None or not fresh:
                self._cached = await load_policy(self._db)
                self._loaded_at = self._clock.monotonic()
            return self._cached

    async def check(self, role: str) -> None:
        policy = await self.current()
        if policy is not None:
            policy.check(role, self._clock.now())
