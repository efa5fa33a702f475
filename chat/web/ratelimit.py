"""Per-client rate limits for the unauthenticated sign-in endpoints.

Enrollment and sign-in take requests from anyone; each refusal is also an audit row.
A token bucket per client address (per node, in memory) keeps a script from guessing
codes, flooding the audit log or burning CPU on signature checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.errors import RateLimited
from chat.types import Clock

MAX_TRACKED_CLIENTS = 10_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class ClientRateLimiter:
    def __init__(self, clock: Clock, *, per_minute: float = 30, burst: int = 20) -> None:
        self._clock = clock
        self._rate = per_minute / 60
        self._burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def check(self, client: str | None) -> None:
        """Take a token for ``client`` or raise RateLimited (HTTP 429)."""
        now = self._clock.monotonic()
        key = client or "?"
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED_CLIENTS:
                self._forget_full_buckets(now)
            bucket = self._buckets[key] = _Bucket(float(self._burst), now)
        bucket.tokens = min(float(self._burst), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1:
            raise RateLimited("Too many sign-in attempts from this address; wait a minute")
        bucket.tokens -= 1

    def _forget_full_buckets(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket.
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.at) * self._rate >= self._burst:
                del self._buckets[key]
