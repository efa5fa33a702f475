"""Shared aliases and protocols."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

JSON = dict[str, Any]

# Long work reports (done, total): imports, purges, exports, verification.
Progress = Callable[[int, int], None]


def no_progress(done: int, total: int) -> None:
    return None
UserId = int
ChannelId = int


class Timer(Protocol):
    """A pending :meth:`Clock.call_later`."""

    def cancel(self) -> None:
        """Do not call it after all (harmless once it ran)."""
        ...


class Clock(Protocol):
    """Injected time, so policies and expiries are tested without sleeping."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` on the running event loop once ``delay`` seconds of this
        clock have passed (raises RuntimeError outside a running loop)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


TokenSource = Callable[[], str]


def random_token() -> str:
    """A 256-bit URL-safe random token."""
    return secrets.token_urlsafe(32)
