"""Watching a node (docs/monitoring.md): the metrics port scraped over real HTTP while
real traffic moves the numbers, ``/readyz`` and what makes it fail, JSON logs from the
real ``tsunagu serve``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import websockets
from alembic.script import ScriptDirectory

from chat.readiness import SchemaCheck, bounded, bus_reachable, check_readiness
from chat.store.db import Database
from chat.store.migrations import alembic_config
from tests.integration.pbx_helpers import call_event, make_secret, missed_call, post_event
from tests.support import (
    FRAME_TIMEOUT,
    ChatClient,
    RunningServer,
    api,
    department_channel,
    dev_token,
    sql,
)
from tests.support.metrics import Samples, free_port, scrape, value
from tests.support.people import SUZUKI, TANAKA
from tests.support.push import Browser, PushService
from tests.support.servers import REPO_ROOT

ServerFactory = Callable[..., RunningServer]
async def eventually(port: int, holds: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until ``holds`` (what a node does after answering: unregistering a closed
    socket, its first checkpoint), within the frame timeout."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        samples = await scrape(port)
        if holds(samples):
            return samples
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.05)


def metrics_node(make_server: ServerFactory, **overrides: Any) -> tuple[RunningServer, int]:
    port = free_port()
    return make_server(metrics_port=port, **overrides), port


async def test_the_metrics_port_counts_real_traffic(make_server: ServerFactory) -> None:
    server, port = metrics_node(make_server, audit_checkpoint_seconds=0.2)
    before = await scrape(port)
    sender = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    reader = await ChatClient.connect(server, await dev_token(server, TANAKA))
    waiting = await websockets.connect(server.ws_url, open_timeout=FRAME_TIMEOUT)
    await waiting.recv()                                      # hello: not signed in yet
    sockets = await scrape(port)
    assert value(sockets, "tsunagu_websocket_connections", state="authenticated") == 2
    assert value(sockets, "tsunagu_websocket_connections", state="unauthenticated") == 1

    channel = await department_channel(sender)
    for n in range(3):
        await sender.send_message(channel, f"計測 {n}")
    secret = make_secret(server)
    refused = await post_event(server, secret,
                               call_event("call.ringing", f"metrics-{uuid.uuid4().hex}"),
                               headers={"content-type": "application/json"})
    assert refused.status_code == 401
    await missed_call(server, secret)         # a notice card, posted by the system

    after = await eventually(
        port, lambda s: value(s, "tsunagu_fanout_lag_seconds_count") >= 1
        and ("tsunagu_audit_checkpoint_age_seconds", ()) in s, "a probe and a checkpoint")
    stored = "tsunagu_messages_stored_total"
    assert value(after, stored) - value(before, stored) == 3 + 1      # sends + the card
    latency = "tsunagu_send_latency_seconds_count"
    assert value(after, latency) - value(before, latency) == 3
    assert value(after, "tsunagu_send_latency_seconds_sum") > 0
    assert value(after, "tsunagu_webhook_refusals_total", reason="invalid_signature") == 1
    assert value(after, "tsunagu_http_responses_total", status_class="4xx") >= 1
    assert value(after, "tsunagu_http_responses_total", status_class="2xx") >= 2
    assert value(after, "tsunagu_db_wait_seconds_count", what="pool") > 0
    assert 0 <= value(after, "tsunagu_audit_checkpoint_age_seconds") < 60
    assert value(after, "tsunagu_bus_gaps_total") == 0
    assert value(after, "tsunagu_push_deliveries_total", outcome="failed") == 0
    assert value(after, "process_cpu_seconds_total") > 0

    await reader.close()
    await waiting.close()
    await eventually(port, lambda s: value(
        s, "tsunagu_websocket_connections", state="authenticated") == 1 and value(
        s, "tsunagu_websocket_connections", state="unauthenticated") == 0,
        "the closed sockets gone")


async def test_a_push_delivery_is_counted(make_server: ServerFactory,
                                          push_service: PushService) -> None:
    server, port = metrics_node(make_server, push_allow_http_loopback=True)
    tanaka = Browser.make(push_service, "tanaka")
    subscribed = await api(server, await dev_token(server, TANAKA), "POST",
                           "/api/push/subscriptions", json=tanaka.subscription())
    assert subscribed.status_code == 201, subscribed.text
    suzuki = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    assert suzuki.ready is not None
    group = next(c["id"] for c in suzuki.ready["channels"] if c["name"] == "忘年会幹事")
    await suzuki.send_message(group, "プッシュの計測")
    assert (await push_service.next()).name == "tanaka"
    await eventually(port, lambda s: value(
        s, "tsunagu_push_deliveries_total", outcome="ok") == 1, "the delivery counted")
    assert value(await scrape(port), "tsunagu_push_deliveries_total", outcome="failed") == 0


async def test_the_public_port_does_not_serve_metrics(make_server: ServerFactory) -> None:
    server, _port = metrics_node(make_server)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        assert (await http.get("/metrics")).status_code == 404


async def readyz(server: RunningServer) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=FRAME_TIMEOUT) as http:
        return await http.get("/readyz")


async def test_readyz_is_ready_then_names_a_schema_behind_the_release(
        server: RunningServer) -> None:
    ready = await readyz(server)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "schema": "ok", "bus": "ok"}

    scripts = ScriptDirectory.from_config(alembic_config(server.settings.database_url))
    head = scripts.get_revision(scripts.get_current_head())
    sql(server, "UPDATE alembic_version SET version_num = :older", older=head.down_revision)
    behind = await readyz(server)
    assert behind.status_code == 503
    answer = behind.json()
    assert answer["status"] == "not_ready" and answer["failed"] == ["schema"]
    assert head.revision in answer["checks"]["schema"]


async def test_readiness_names_a_bus_that_does_not_answer(server: RunningServer) -> None:
    """A node cannot start on an unreachable Redis (the bus pings it at start), so the
    check is run on its own against a loopback port nobody listens on."""
    closed = free_port()
    outcome = await bounded(lambda: bus_reachable(f"redis://127.0.0.1:{closed}/0"))
    assert outcome != "ok" and "Error" in outcome
    db = Database(server.settings.database_url)
    try:
        readiness = await check_readiness(db, f"redis://127.0.0.1:{closed}/0",
                                          SchemaCheck(db))
    finally:
        await db.dispose()
    assert not readiness.ready and readiness.failed == ["bus"]


async def test_json_logs_from_tsunagu_serve(server: RunningServer) -> None:
    port = free_port()
    env = {**os.environ, "CHAT_DATABASE_URL": server.settings.database_url,
           "CHAT_BUS_URL": server.settings.bus_url,
           "CHAT_BUS_PREFIX": server.settings.bus_prefix,
           "CHAT_VAR_DIR": str(server.settings.var_dir), "CHAT_PORT": str(port),
           "CHAT_LOG_FORMAT": "json"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chat.cli", "serve", cwd=REPO_ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    lines: list[str] = []

    async def read_until(done: Callable[[dict[str, Any]], bool]) -> None:
        assert process.stderr is not None
        while True:
            line = (await process.stderr.readline()).decode()
            assert line, f"tsunagu serve ended: {lines}"
            lines.append(line)
            if done(json.loads(line)):
                return

    async def within(step: Awaitable[None]) -> None:
        await asyncio.wait_for(step, 30)

    try:
        await within(read_until(lambda e: "startup complete" in e["message"]))
        async with httpx.AsyncClient(timeout=FRAME_TIMEOUT) as http:
            assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        await within(read_until(lambda e: e["logger"] == "uvicorn.access"))
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(process.communicate(), 30)
    lines += rest.decode().splitlines(keepends=True)
    entries = [json.loads(line) for line in lines if line.strip()]
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
        assert entry["time"].endswith("Z") and entry["time"][10] == "T"
    access = next(e for e in entries if e["logger"] == "uvicorn.access")
    assert access["path"] == "/healthz" and access["status"] == 200
    assert any(e["logger"] == "uvicorn.error" for e in entries)
