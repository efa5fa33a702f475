"""A serving node's garbage collector: what exists at start-up is frozen, and the young
generation is collected less often (chat/runtime.py)."""

from __future__ import annotations

import gc

from chat.runtime import YOUNG_GENERATION_THRESHOLD, settle_garbage_collector


def test_settling_freezes_what_exists_and_still_collects_new_cycles() -> None:
    before = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, before[1], before[2])
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
