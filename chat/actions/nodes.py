"""Which nodes are alive: each node writes a heartbeat (its connections and bus state)
to the shared ``system_settings`` every ``node_heartbeat_seconds``, so any node can show
the whole deployment on the health page without a registry service.

A node that stops cleanly takes itself off the list (:func:`forget_this_node`). One that falls
silent (a crash, a cut cable) is 「応答なし」 after a few missed heartbeats, 「停止」 once
silent for :data:`STOPPED_AFTER`, and forgotten (its row deleted by any live node's
heartbeat) after :data:`FORGET_AFTER`, so the list does not keep old nodes forever
(docs/admin.md, 稼働状況)."""

from __future__ import annotations

from datetime import datetime, timedelta

from chat.context import AppContext
from chat.domain.dates import wire_time
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON

PREFIX = "node:"
# A node not heard from for this many heartbeats is shown as stale.
STALE_AFTER_BEATS = 3
# Silent this long: shown as stopped rather than not responding.
STOPPED_AFTER = timedelta(minutes=10)
# Silent this long: off the list, its heartbeat row deleted.
FORGET_AFTER = timedelta(hours=24)


async def heartbeat(ctx: AppContext, *, connections: int, bus_ok: bool,
                    started_at: datetime) -> None:
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.system_settings.put(
            PREFIX + ctx.settings.node_id,
            {"connections": connections, "bus": bus_ok, "started_at": wire_time(started_at)},
            at=ctx.clock.now(), by=ctx.settings.node_id)
        await uow.system_settings.remove_prefix_older(PREFIX, ctx.clock.now() - FORGET_AFTER)


async def forget_this_node(ctx: AppContext) -> None:
    """This node is stopping cleanly: off the health page at once (not 「応答なし」)."""
    async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
        await uow.system_settings.remove(PREFIX + ctx.settings.node_id)


async def recent_nodes(ctx: AppContext, *, within: timedelta = FORGET_AFTER) -> list[JSON]:
    """Nodes heard from within ``within``, this one first. ``state``: ``alive``,
    ``stale`` when a few heartbeats were missed (stopped, or cut off from the database),
    ``stopped`` when silent for :data:`STOPPED_AFTER`; ``stale`` is true for both."""
    now = ctx.clock.now()
    stale_after = timedelta(seconds=ctx.settings.node_heartbeat_seconds * STALE_AFTER_BEATS)
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        rows = await uow.system_settings.with_prefix(PREFIX)
    nodes = []
    for key, value, seen in rows:
        if now - seen > within:
            continue
        node_id = key.removeprefix(PREFIX)
        nodes.append({"node_id": node_id, "last_seen": wire_time(seen),
                      "connections": int(value.get("connections", 0)),
                      "bus": bool(value.get("bus")), "started_at": value.get("started_at"),
                      "stale": now - seen > stale_after,
                      "state": ("stopped" if now - seen > STOPPED_AFTER else
                                "stale" if now - seen > stale_after else "alive"),
                      "this_node": node_id == ctx.settings.node_id})
    return sorted(nodes, key=lambda n: (not n["this_node"], n["node_id"]))
