"""Faults answered clearly (docs/protocol.md#faults): a store that cannot take a write
answers each send with the retryable ``storage_unavailable`` and keeps the connection,
so phones back off instead of reconnecting in a loop; nothing acknowledged is lost and
nothing is stored twice. Real faults: SQLite's ``max_page_count`` on the node's own
connections (a real SQLITE_FULL), a PostgreSQL lock held by another connection."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from typing import Any

import pytest
import websockets

from tests.conftest import ServerFactory
from tests.support import (
    REDIS_URL,
    ChatClient,
    RunningServer,
    ServedNode,
    api,
    dev_token,
    serve_process,
    sql,
)
from tests.support.metrics import free_port, scrape, value
from tests.support.people import SUZUKI, TAKAHASHI, TANAKA, WATANABE
from tests.support.proxy import TcpProxy

SENDERS = [SUZUKI, TAKAHASHI, TANAKA]
# Large enough that every send needs new pages (overflow pages, index entries).
BIG_BODY = "満杯試験" * 2000
NO_LIMIT = 1_000_000_000


class PageLimit:
    """SQLite's ``max_page_count`` set on each of the node's connections as the pool
    hands it out (``create_app(connection_setup=...)``): at 1 the database cannot grow
    past its current size (SQLite keeps the larger of the two), which is a real
    SQLITE_FULL for every write that needs a new page."""

    def __init__(self) -> None:
        self.pages = NO_LIMIT

    def __call__(self, dbapi_connection: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {int(self.pages)}")
        cursor.close()


async def connect(server: RunningServer, staff: str) -> tuple[ChatClient, int]:
    client = await ChatClient.connect(server, await dev_token(server, staff))
    assert client.ready is not None
    channel = next(c["id"] for c in client.ready["channels"] if c["kind"] == "department")
    return client, channel


async def send(client: ChatClient, channel_id: int, client_id: str,
               body: str) -> dict[str, Any]:
    """The answer to one send: its ack or its error frame (``ref``, as the page sends)."""
    await client.send({"type": "send", "ref": client_id, "channel_id": channel_id,
                       "client_id": client_id, "body": body})
    return await answer_to(client, client_id)


async def answer_to(client: ChatClient, client_id: str) -> dict[str, Any]:
    """The ack or the error frame answering the send ``client_id``."""
    return await client.expect_any(
        lambda f: (f["type"] == "ack" and f["client_id"] == client_id)
        or (f["type"] == "error" and f.get("ref") == client_id))


def stored_counts(server: RunningServer, client_ids: list[str]) -> dict[str, int]:
    rows = sql(server, "SELECT client_id, count(*) FROM messages "
                       "WHERE client_id LIKE 'fault-%' GROUP BY client_id")
    counts = {row[0]: row[1] for row in rows}
    return {client_id: counts.get(client_id, 0) for client_id in client_ids}


def assert_retryable(frame: dict[str, Any]) -> None:
    assert frame["type"] == "error", frame
    assert frame["code"] == "storage_unavailable", frame
    assert isinstance(frame["retry_after_ms"], int) and frame["retry_after_ms"] > 0
    assert frame["message_ja"]


async def test_a_full_disk_answers_each_send_retryably_on_the_same_connection(
        backend: str, make_server: ServerFactory) -> None:
    if backend != "sqlite":
        pytest.skip("SQLITE_FULL is SQLite's; PostgreSQL's faults are tested below")
    limit = PageLimit()
    metrics_port = free_port()
    server = make_server(metrics_port=metrics_port, app_kwargs={"connection_setup": limit})
    senders = [await connect(server, staff) for staff in SENDERS]
    acked: list[str] = []
    full_before = value(await scrape(metrics_port), "tsunagu_db_errors_total",
                        kind="operational")
    for client, channel in senders:
        client_id = f"fault-{uuid.uuid4().hex}"
        assert (await send(client, channel, client_id, "満杯前"))["type"] == "ack"
        acked.append(client_id)

    limit.pages = 1                         # the disk is full from now on
    refused: list[tuple[ChatClient, int, str]] = []

    async def until_refused(client: ChatClient, channel: int) -> None:
        for _ in range(40):
            client_id = f"fault-{uuid.uuid4().hex}"
            answer = await send(client, channel, client_id, BIG_BODY)
            if answer["type"] == "ack":     # it still fitted in a free page
                acked.append(client_id)
                continue
            assert_retryable(answer)
            refused.append((client, channel, client_id))
            # Still refused when sent again at once: the disk is still full.
            assert_retryable(await send(client, channel, client_id, BIG_BODY))
            return
        raise AssertionError("the database never filled up")

    for client, channel in senders:
        await until_refused(client, channel)
    for client, _ in senders:               # the connection is alive and answering
        await client.send({"type": "ping", "ref": "alive"})
        await client.expect("pong")
        assert client.ws.close_code is None
    assert all(n == 0 for n in stored_counts(
        server, [client_id for _, _, client_id in refused]).values())
    # Each refusal is counted where the operators watch (docs/monitoring.md), though a
    # send's statements and its COMMIT run beside SQLAlchemy's execution on SQLite.
    full = value(await scrape(metrics_port), "tsunagu_db_errors_total",
                 kind="operational") - full_before
    assert full >= 2 * len(refused), full

    # HTTP says the same with 503 and Retry-After (RFC 9110 §10.2.3).
    token = await dev_token(server, SUZUKI)
    for n in range(40):
        response = await api(server, token, "POST", "/api/channels/group",
                             json={"name": f"満杯の班{n}", "member_ids": []})
        if response.status_code != 201:
            break
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert response.headers["Retry-After"] == "2"

    limit.pages = NO_LIMIT                  # space freed: the same sends, same sockets
    for client, channel, client_id in refused:
        answer = await send(client, channel, client_id, BIG_BODY)
        assert answer["type"] == "ack" and answer["duplicate"] is False, answer
        acked.append(client_id)
    assert stored_counts(server, acked) == {client_id: 1 for client_id in acked}
    for client, _ in senders:
        assert client.ws.close_code is None


# --- the bus: acks never wait for Redis ----------------------------------------------

def shared_channel(poster: ChatClient, reader: ChatClient) -> int:
    assert poster.ready is not None and reader.ready is not None
    theirs = {c["id"] for c in reader.ready["channels"]}
    return next(c["id"] for c in poster.ready["channels"]
                if c["id"] in theirs and c["may_post"])


async def seen_everything(client: ChatClient, channel_id: int, seqs: set[int], *,
                          within: float) -> None:
    """Wait until ``client`` has every message ``seqs`` of the channel, from message
    frames or, after a ``resync.required``, by resyncing as the page does."""
    have: set[int] = set()
    deadline = asyncio.get_running_loop().time() + within
    while not seqs <= have:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, f"never saw {sorted(seqs - have)}"
        frame = await client.expect_any(
            lambda f: f["type"] in {"message", "resync.required", "resync.result"},
            timeout=remaining)
        if frame["type"] == "message" and frame["message"]["channel_id"] == channel_id:
            have.add(frame["message"]["seq"])
        elif frame["type"] == "resync.required":
            await client.send({"type": "resync", "channel_id": channel_id,
                               "after_seq": min(seqs) - 1})
        elif frame["type"] == "resync.result" and frame["channel_id"] == channel_id:
            have.update(m["seq"] for m in frame["messages"])


async def test_acks_do_not_wait_for_a_frozen_redis_and_every_node_converges(
        backend: str, make_server: ServerFactory) -> None:
    if backend != "postgres":
        pytest.skip("the in-process bus has no outage")
    assert REDIS_URL is not None
    host, port = REDIS_URL.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    proxy = TcpProxy(host, int(port)).start()
    try:
        node_a = make_server(bus_url=proxy.url_for(REDIS_URL))
        node_b = make_server()
        sender = await ChatClient.connect(node_a, await dev_token(node_a, SUZUKI))
        watcher = await ChatClient.connect(node_b, await dev_token(node_b, TAKAHASHI))
        channel = shared_channel(sender, watcher)

        proxy.freeze()                      # node A's Redis hangs
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        acked: dict[str, int] = {}
        for n in range(8):
            client_id = f"fault-{uuid.uuid4().hex}"
            started = loop.time()
            ack = await sender.send_message(channel, f"凍結中 {n}", client_id)
            latencies.append(loop.time() - started)
            acked[client_id] = ack["message"]["seq"]
        assert max(latencies) < 0.5, latencies     # it was ~2 s, or for ever on a hang

        proxy.thaw()
        await seen_everything(watcher, channel, set(acked.values()), within=15)
        await seen_everything(sender, channel, set(acked.values()), within=15)
        assert stored_counts(node_a, list(acked)) == {c: 1 for c in acked}
    finally:
        proxy.stop()


# --- SIGTERM: drain, then close 1012 --------------------------------------------------

DRAIN_SECONDS = 8.0
IN_FLIGHT = 4          # sends a phone has out at once (its outbox flushing)


class Burst:
    """One phone sending as fast as acks allow, up to IN_FLIGHT at once, until the
    server closes; what it sent, what was acknowledged, and how the socket closed."""

    def __init__(self, client: ChatClient, channel_id: int, staff: str) -> None:
        self.client, self.channel_id, self.staff = client, channel_id, staff
        self.sent: list[str] = []
        self.acked: set[str] = set()
        self.frames: list[str] = []
        self.close_code: int | None = None
        self.warmed_up = asyncio.Event()

    async def send_one(self) -> None:
        client_id = f"fault-{self.staff}-{len(self.sent)}-{uuid.uuid4().hex[:8]}"
        self.sent.append(client_id)
        # Once the server's close has arrived nothing more goes out; what it sent before
        # its close is still read below.
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.client.send({"type": "send", "ref": client_id,
                                    "client_id": client_id, "channel_id": self.channel_id,
                                    "body": f"停止試験 {len(self.sent)}"})

    async def run(self) -> None:
        try:
            for _ in range(IN_FLIGHT):
                await self.send_one()
            while True:
                frame = await self.client._recv(30)
                self.frames.append(frame["type"])
                if frame["type"] == "ack":
                    self.acked.add(frame["client_id"])
                    if len(self.acked) >= 5:
                        self.warmed_up.set()
                    await self.send_one()
        except websockets.ConnectionClosed:
            self.close_code = self.client.ws.close_code


async def connect_to(node: ServedNode, token: str) -> ChatClient:
    ws = await websockets.connect(node.ws_url, open_timeout=5)
    client = ChatClient(ws)
    await client.send({"type": "auth", "token": token})
    client.ready = await client.expect("ready")
    return client


async def test_sigterm_answers_every_stored_send_then_closes_1012(
        make_server: ServerFactory) -> None:
    prepared = make_server()                # migrates, seeds and mints sessions
    node = serve_process(prepared.settings,
                         CHAT_SHUTDOWN_DRAIN_TIMEOUT=str(DRAIN_SECONDS))
    try:
        bursts = []
        for staff in (SUZUKI, TAKAHASHI, TANAKA, WATANABE):
            client = await connect_to(node, await dev_token(prepared, staff))
            assert client.ready is not None
            channel = next(c["id"] for c in client.ready["channels"]
                           if c["kind"] == "department")
            bursts.append(Burst(client, channel, staff))
        running = [asyncio.create_task(burst.run()) for burst in bursts]
        await asyncio.wait_for(asyncio.gather(*(b.warmed_up.wait() for b in bursts)), 15)

        node.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*running), DRAIN_SECONDS + 5)
        await asyncio.to_thread(node.process.wait, DRAIN_SECONDS + 5)
        assert time.monotonic() - signalled < DRAIN_SECONDS + 3
        # uvicorn re-raises the signal once shut down: "killed by SIGTERM", as expected.
        assert node.process.returncode in (0, -signal.SIGTERM), node.process.returncode
    finally:
        node.stop()

    sent = [client_id for burst in bursts for client_id in burst.sent]
    stored = stored_counts(prepared, sent)
    acked = set().union(*(burst.acked for burst in bursts))
    assert all(n <= 1 for n in stored.values()), "a message was stored twice"
    assert {c for c, n in stored.items() if n} <= acked, (
        "stored but never acknowledged: "
        f"{sorted({c for c, n in stored.items() if n} - acked)}")
    for burst in bursts:
        assert burst.close_code == 1012, (burst.staff, burst.close_code, burst.frames[-3:])
        assert burst.frames[-1] == "server.restarting", burst.frames[-3:]


# --- PostgreSQL: a lock held too long, a frozen server --------------------------------

def asyncpg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def test_a_lock_held_too_long_answers_retryably_and_the_resend_is_stored_once(
        backend: str, make_server: ServerFactory) -> None:
    if backend != "postgres":
        pytest.skip("lock_timeout is PostgreSQL's")
    import asyncpg

    server = make_server(db_lock_timeout_seconds=0.3)
    client, channel = await connect(server, SUZUKI)
    holder = await asyncpg.connect(asyncpg_dsn(server.settings.database_url))
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        client_id = f"fault-{uuid.uuid4().hex}"
        started = time.monotonic()
        answer = await send(client, channel, client_id, "ロック中")
        # The batch, then the send alone: two lock timeouts, and no more.
        assert time.monotonic() - started < 3, time.monotonic() - started
        assert_retryable(answer)
        await transaction.rollback()        # the lock is released
    finally:
        await holder.close()
    ack = await send(client, channel, client_id, "ロック中")
    assert ack["type"] == "ack" and ack["duplicate"] is False, ack
    assert client.ws.close_code is None
    assert stored_counts(server, [client_id]) == {client_id: 1}


async def test_a_frozen_database_answers_sends_within_the_timeouts(
        backend: str, make_server: ServerFactory, database_url: str) -> None:
    if backend != "postgres":
        pytest.skip("a database server behind a TCP proxy: PostgreSQL")
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        server = make_server(database_url=proxy.url_for(database_url),
                             db_statement_timeout_seconds=1.0, db_pool_timeout_seconds=1.0)
        client, channel = await connect(server, SUZUKI)
        proxy.freeze()                      # PostgreSQL hangs, for this node only
        client_id = f"fault-{uuid.uuid4().hex}"
        started = time.monotonic()
        answer = await send(client, channel, client_id, "凍結中")
        assert time.monotonic() - started < 4, time.monotonic() - started
        assert_retryable(answer)
        proxy.thaw()
        ack = await answer_to_resend(client, channel, client_id)
        assert client.ws.close_code is None
        assert stored_counts(server, [client_id]) == {client_id: 1}, ack
    finally:
        proxy.stop()


async def answer_to_resend(client: ChatClient, channel: int, client_id: str
                           ) -> dict[str, Any]:
    """Resend as the page does (after the hint) until acknowledged, a bounded number of
    times: the write held by the frozen server may land first (then a duplicate ack)."""
    for _ in range(10):
        answer = await send(client, channel, client_id, "凍結中")
        if answer["type"] == "ack":
            return answer
        assert_retryable(answer)
        await asyncio.sleep(answer["retry_after_ms"] / 1000)    # the client's backoff
    raise AssertionError("never acknowledged")
