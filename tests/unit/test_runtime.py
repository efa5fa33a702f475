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


def test_nodes_send_no_protocol_pings_of_their_own() -> None:
    """uvicorn would ping every socket every 20 s and read each pong back; the client's
    own heartbeat and the idle deadline (chat.protocol) already find a dead peer."""
    import uvicorn

    from chat.config import Settings
    from chat.runtime import uvicorn_options

    config = uvicorn.Config("chat.app:create_app", **uvicorn_options(
        Settings(database_url="sqlite+aiosqlite:///unused.db")))
    assert config.ws_ping_interval is None
