"""The one loop every periodic job of a node runs in (the app's jobs, the hub's sweeps)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def every(seconds: float, job: Callable[[], Awaitable[object]], what: str) -> None:
    """Run ``job`` every ``seconds`` (the first time one interval after start) until
    cancelled; a failure is logged and the next round comes as usual."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("%s failed", what)
