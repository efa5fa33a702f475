"""Process-wide settings for a long-running server node (``tsunagu serve``)."""

from __future__ import annotations

import gc

# Allocations between two young-generation collections (CPython's default is 700).
YOUNG_GENERATION_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Once the app is built: collect, freeze what exists (modules, the ORM's mappers
    and compiled metadata, settings) so no later collection walks it again, and collect
    the young generation less often.

    A node allocates fast under load (frames, rows, futures). On CPython's defaults the
    benchmark's server made ~570 young, ~50 middle and 5 full collections in one run of
    the city-hall peak (~20 s); a full one walks every object of 1,000 connections and
    stalled every delivery for 20-110 ms, one of them inside the 10x phase. With the
    young threshold at 10,000, young collections take 5-13 ms every ~0.6 s at that
    load and no full collection fell in a measured phase (docs/performance.md, scenario
    a). Cyclic garbage is still collected."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
