"""An injected clock for tests of expiries and policies (no sleeping)."""

from __future__ import annotations

from typing import Any


class ManualClock:
    """An injected clock that moves only when a test says so (thread-safe enough for a
    server thread reading what the test thread wrote)."""

    def __init__(self) -> None:
        from datetime import UTC, datetime

        self._now = datetime.now(UTC)
        self._monotonic = 1000.0

    def now(self) -> Any:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds

    def set(self, moment: Any) -> None:
        """Jump to an aware ``moment`` (monotonic time moves by the same amount)."""
        self.advance((moment - self._now).total_seconds())
