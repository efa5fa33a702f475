"""A send's round trips to PostgreSQL, read off the wire (tests/support/pg_wire.py): each
is a wait for the database server, which on a small machine shares the node's cores, so
their number is the floor of a send's latency (docs/store.md, "A send's statements")."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from chat.actions.messages import send_message
from chat.auth.sessions import Principal
from chat.config import Settings
from chat.context import AppContext, open_context
from chat.demo import _principals
from chat.store.db import Database
from chat.store.uow import TxMode, unit_of_work
from chat.webpush import WebPush
from tests.support import REDIS_URL, base_settings, prepare_database, run_tsunagu
from tests.support.people import SUZUKI, TANAKA
from tests.support.pg_wire import RoundTrips

# BEGIN; the resend look-up with the channels, memberships and push subscribers; seqs,
# messages, their revisions and read positions; the audit entries with the head's move;
# COMMIT. (It was twelve: docs/store.md, "A send's statements".)
LONE_SEND_ROUND_TRIPS = 5


@pytest.fixture
def postgres_url(database_url: str, backend: str) -> str:
    if backend != "postgres":
        pytest.skip("round trips to PostgreSQL")
    return database_url


async def rows(url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    db = Database(url)
    try:
        async with db.engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(statement), params)]
    finally:
        await db.dispose()


@dataclasses.dataclass
class WiredNode:
    """A node's context whose PostgreSQL traffic crosses ``wire``; two people and a
    channel they share, one warm send already made (statements prepared)."""

    ctx: AppContext
    settings: Settings
    wire: RoundTrips
    suzuki: Principal
    tanaka: Principal
    channel_id: int


@contextlib.asynccontextmanager
async def wired_node(postgres_url: str, tmp_path: Path, name: str, *, warm_sends: int = 1,
                     with_push: bool = False) -> AsyncIterator[WiredNode]:
    """The set-up each test here shares; ``with_push``: Web Push on, as on a serving
    node (the batch then reads who can be pushed to)."""
    url = make_url(postgres_url)
    wire = RoundTrips(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        settings = base_settings(wire.url_for(postgres_url), tmp_path / "var",
                                 bus_url=REDIS_URL or "memory://",
                                 bus_prefix=f"{name}-{tmp_path.name}:")
        prepare_database(settings, seed=True)
        async with open_context(settings) as cli_ctx:
            push = WebPush(cli_ctx.settings, cli_ctx.secrets) if with_push else None
            ctx = dataclasses.replace(cli_ctx, push=push) if push else cli_ctx
            people = await _principals(ctx)
            suzuki, tanaka = people[SUZUKI], people[TANAKA]
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                shared = set(await uow.channels.channel_ids_of(suzuki.user_id)) & set(
                    await uow.channels.channel_ids_of(tanaka.user_id))
            channel_id = min(shared)
            for n in range(warm_sends):      # statements prepared, the audit head known
                await send_message(ctx, actor=suzuki, channel_id=channel_id,
                                   client_id=f"warm-{n}", body="おはようございます")
            try:
                yield WiredNode(ctx, settings, wire, suzuki, tanaka, channel_id)
            finally:
                if push is not None:
                    await push.close()
    finally:
        wire.stop()


def listed(trips: list[list[str]]) -> str:
    return "\n".join(" | ".join(statement[:80] for statement in trip) for trip in trips)


async def test_a_lone_send_makes_five_round_trips(postgres_url: str, tmp_path: Path
                                                  ) -> None:
    async with wired_node(postgres_url, tmp_path, "round-trips", warm_sends=3,
                          with_push=True) as node:
        ctx, wire, tanaka, suzuki = node.ctx, node.wire, node.tanaka, node.suzuki
        channel_id = node.channel_id
        mark = wire.mark()
        sent = await send_message(ctx, actor=tanaka, channel_id=channel_id,
                                  client_id="lone", body="本日の窓口混雑状況を共有します。")
        trips = wire.since(mark)
        assert len(trips) == LONE_SEND_ROUND_TRIPS, listed(trips)

        again = await send_message(ctx, actor=tanaka, channel_id=channel_id,
                                   client_id="lone", body="本日の窓口混雑状況を共有します。")
        assert again.duplicate and again.message == sent.message

        # Another node moves the audit head: this node's seal finds its guess stale,
        # then locks and reads the head and chains after it (two more round trips).
        other_settings = base_settings(postgres_url, tmp_path / "other",
                                       bus_url=node.settings.bus_url,
                                       bus_prefix=node.settings.bus_prefix)
        async with open_context(other_settings) as other:
            await send_message(other, actor=suzuki, channel_id=channel_id,
                               client_id="other-node", body="別のノードから")
        mark = wire.mark()
        latest = await send_message(ctx, actor=tanaka, channel_id=channel_id,
                                    client_id="after-other", body="続けて")
        assert len(wire.since(mark)) == LONE_SEND_ROUND_TRIPS + 2
    # What the one statement wrote is what the statements it replaced wrote, and the
    # chain is unbroken through both nodes' seals.
    assert await rows(postgres_url, "SELECT revision, action, body, actor_id, superseded "
                                    "FROM message_revisions WHERE message_id = :m",
                      m=sent.message["id"]) == [
        (1, "create", "本日の窓口混雑状況を共有します。", tanaka.user_id, False)]
    assert await rows(postgres_url, "SELECT last_read_seq FROM memberships WHERE "
                                    "channel_id = :c AND user_id = :u",
                      c=channel_id, u=tanaka.user_id) == [(latest.message["seq"],)]
    verified = await run_tsunagu(None, "audit", "verify",
                                 env={"CHAT_DATABASE_URL": postgres_url,
                                      "CHAT_VAR_DIR": str(tmp_path / "var")})
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_sends_after_a_burst_stay_on_one_warm_connection(postgres_url: str,
                                                              tmp_path: Path) -> None:
    """A burst (connects authenticating, a roll call) grows the pool; the sends after it
    must not go round its connections in turn: on each one a first send prepares every
    statement and has asyncpg look up the array types (round trips and ~10 ms of the
    database's CPU), and one unused for a while is pinged first."""
    async with wired_node(postgres_url, tmp_path, "warm-pool") as node:
        ctx, wire = node.ctx, node.wire
        async with contextlib.AsyncExitStack() as burst:
            for _ in range(4):
                conn = await burst.enter_async_context(ctx.db.engine.connect())
                await conn.execute(text("SELECT 1"))
        backends = set()
        for n in range(4):
            mark = wire.mark()
            await send_message(ctx, actor=node.tanaka, channel_id=node.channel_id,
                               client_id=f"after-burst-{n}", body="窓口は空いています")
            trips = wire.since(mark)
            assert len(trips) == LONE_SEND_ROUND_TRIPS, listed(trips)
            async with ctx.db.engine.connect() as conn:
                backends.add((await conn.execute(text("SELECT pg_backend_pid()"))
                              ).scalar_one())
        assert len(backends) == 1


async def test_a_new_connections_first_send_prepares_but_looks_up_no_types(
        postgres_url: str, tmp_path: Path) -> None:
    """A connection's first send prepares its statements (a round trip each) but does not
    wait for asyncpg to read the array types it binds from the catalogue: the pool had
    it learn them when the connection opened."""
    async with wired_node(postgres_url, tmp_path, "first-send") as node:
        ctx, wire = node.ctx, node.wire
        # Hold the warm connection and open a new one: the next send takes it.
        async with ctx.db.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            async with ctx.db.engine.connect() as new:
                await new.execute(text("SELECT 1"))
            mark = wire.mark()
            await send_message(ctx, actor=node.tanaka, channel_id=node.channel_id,
                               client_id="on-a-new-connection", body="窓口は空いています")
            trips = wire.since(mark)
        # Five, and a Parse for each of the look-up, the write and the seal.
        assert len(trips) == LONE_SEND_ROUND_TRIPS + 3, listed(trips)
