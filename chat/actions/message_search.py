"""A person's search over the channels they belong to, and the periodic indexing of
messages other writers left noted (SQLite; docs/architecture.md, Search)."""

from __future__ import annotations

from chat.actions.message_reads import audit_privileged_read
from chat.actions.wire import wire_messages
from chat.auth.sessions import Principal
from chat.context import AppContext
from chat.errors import (
    BadRequest,
)
from chat.store.uow import TxMode, unit_of_work
from chat.types import JSON


async def search(ctx: AppContext, *, actor: Principal, query: str, limit: int,
                 channel_id: int | None = None) -> list[JSON]:
    """Substring search over the live messages of the actor's channels, newest first."""
    query = query.strip()
    if not query:
        raise BadRequest("The search query is empty")
    if len(query) > 100:
        raise BadRequest("The search query is longer than 100 characters")
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        hits = await uow.messages.search_visible(actor.user_id, query, limit=limit,
                                                 channel_id=channel_id)
        wired = await wire_messages(uow, [m for m, _ in hits])
    results = [{**w, "channel_name": c.name} for w, (_, c) in zip(wired, hits, strict=True)]
    await audit_privileged_read(ctx, actor, "search", results, query=query)
    return results


# Messages indexed per transaction when catching up on what other writers left noted.
SEARCH_BACKLOG_BATCH = 500


async def index_search_backlog(ctx: AppContext) -> int:
    """Index the messages other writers (the sqlite3 shell, a restore) left noted for
    search (SQLite, alembic 0009), one batch per bulk transaction so sends go on in
    between; returns how many. A batch of sends indexes its own messages and 64 of
    these; this catches up on a quiet node (a periodic job of every node). With none
    noted (nearly always) it only reads: no write transaction every 30 s."""
    async with unit_of_work(ctx.db, TxMode.READ) as uow:
        if not await uow.messages.has_search_backlog():
            return 0
    total = 0
    while True:
        async with unit_of_work(ctx.db, TxMode.BULK_WRITE) as uow:
            done = await uow.messages.index_backlog(SEARCH_BACKLOG_BATCH)
        total += done
        if done < SEARCH_BACKLOG_BATCH:
            return total
