"""Replay stores (RFC 9449 §11.1): the proof ids (``jti``) and WebAuthn challenges already
used, remembered for as long as they would be accepted; in memory on one node, in Redis
shared by several."""

from __future__ import annotations

import heapq
import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chat.auth.dpop_base import (
    require_aware,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)


# --- replay store (RFC 9449 §11.1) -----------------------------------------------------


class ReplayCache(Protocol):
    """Remembers proof identifiers for the window in which the proof would be accepted."""

    async def first_use(self, key: str, *, ttl_seconds: float, now: datetime) -> bool:
        """Record ``key`` for ``ttl_seconds``; True if it was not already recorded (and
        unexpired), False otherwise. Implementations that cannot record it return False:
        failing closed, since forgetting would re-open a replay window."""
        ...


class MemoryReplayCache:
    """A replay store for one process (tests, single-node servers).

    An entry recorded at ``t`` blocks the key while ``now < t + ttl``. Expired entries are
    evicted on every call, oldest expiry first. When ``max_entries`` unexpired entries are
    held, a new key is refused (False) rather than an older one forgotten: evicting an
    unexpired ``jti`` would let that proof be replayed, whereas refusing only fails genuine
    requests until entries expire (at most one acceptance window), a loud and bounded
    denial of service instead of a silent security hole. Only fully verified proofs reach
    the store, so filling it takes a signing key and a valid nonce; rate-limit before
    verifying. A warning is logged each time the store becomes full.
    """

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max_entries = max_entries
        self._expiry: dict[str, float] = {}
        self._by_expiry: list[tuple[float, str]] = []
        self._full = False

    def __len__(self) -> int:
        return len(self._expiry)

    def _evict_expired(self, now_ts: float) -> None:
        while self._by_expiry and self._by_expiry[0][0] <= now_ts:
            expires, key = heapq.heappop(self._by_expiry)
            if self._expiry.get(key) == expires:
                del self._expiry[key]

    async def first_use(self, key: str, *, ttl_seconds: float, now: datetime) -> bool:
        require_aware(now)
        now_ts = now.timestamp()
        self._evict_expired(now_ts)
        if key in self._expiry:
            return False
        if len(self._expiry) >= self._max_entries:
            if not self._full:
                log.warning("DPoP replay store full (%d entries): refusing new proofs",
                            self._max_entries)
                self._full = True
            return False
        self._full = False
        expires = now_ts + ttl_seconds
        self._expiry[key] = expires
        heapq.heappush(self._by_expiry, (expires, key))
        return True


class RedisReplayCache:
    """A replay store shared by every node: ``SET prefix+key 1 NX EX ttl``.

    Redis expires entries by its own clock, so ``now`` is ignored here; the TTL is rounded
    up to whole seconds (never shorter than asked). Redis errors propagate: the caller
    must refuse the request rather than skip the replay check.
    """

    def __init__(self, client: aioredis.Redis, *, prefix: str = "tsunagu:dpop:") -> None:
        self._client = client
        self._prefix = prefix

    async def first_use(self, key: str, *, ttl_seconds: float, now: datetime) -> bool:
        ttl = max(1, math.ceil(ttl_seconds))
        stored = await self._client.set(self._prefix + key, 1, nx=True, ex=ttl)
        return bool(stored)
