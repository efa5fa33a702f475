"""A serving node's garbage collector: what exists at start-up is frozen (chat/runtime.py)."""

from __future__ import annotations

import gc

from chat.runtime import settle_garbage_collector


def test_settling_freezes_what_exists_and_still_collects_new_cycles() -> None:
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
