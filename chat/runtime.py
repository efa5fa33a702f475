"""Process-wide settings for a long-running server node (``tsunagu serve``)."""

from __future__ import annotations

import gc


def settle_garbage_collector() -> None:
    """Once the app is built: collect, then freeze what exists (modules, the ORM's
    mappers and compiled metadata, settings), so no later collection walks it again.

    A full collection walks every tracked object and stops the event loop meanwhile; in
    the benchmark's server they took 20-190 ms. What start-up made lives as long as the
    process, so it is moved out of the collector's sight (full collections then took
    20-110 ms: the connections' own objects remain). Cyclic garbage made afterwards is
    still collected on CPython's usual thresholds; raising the young one was tried and
    dropped (docs/performance.md, scenario a)."""
    gc.collect()
    gc.freeze()
