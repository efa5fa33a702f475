"""Call presence at websocket clients: ringing and on a call appear live beside a name,
clear when the call ends, clear on their own when the end event is lost, are in the
ready snapshot, and cross nodes."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import ServerFactory
from tests.integration.pbx_helpers import (
    SUZUKI,
    SUZUKI_EXT,
    TANAKA,
    TANAKA_EXT,
    WATANABE,
    call_event,
    connect,
    make_secret,
    post_event,
)
from tests.support import ChatClient, RunningServer, dev_token


def presence_of(user_id: int, status: str):  # type: ignore[no-untyped-def]
    return lambda f: f["user_id"] == user_id and f["status"] == status


async def send(server: RunningServer, secret: str, kind: str, call_id: str, **kw: str) -> None:
    response = await post_event(server, secret, call_event(kind, call_id, **kw))
    assert response.status_code == 200, response.text


async def test_ringing_and_on_a_call_appear_and_clear_at_every_client(
        server: RunningServer) -> None:
    secret = make_secret(server)
    watcher = await connect(server, TANAKA)
    suzuki = await connect(server, SUZUKI)
    assert suzuki.ready is not None
    me = suzuki.ready["user"]["id"]
    call_id = f"c-{uuid.uuid4().hex[:8]}"
    await send(server, secret, "call.ringing", call_id)
    for client in (watcher, suzuki):
        await client.expect("call.presence", presence_of(me, "ringing"))
    late = await connect(server, TANAKA)
    assert late.ready is not None
    assert {"user_id": me, "status": "ringing"} in late.ready["call_presence"]
    await send(server, secret, "call.answered", call_id)
    for client in (watcher, suzuki, late):
        await client.expect("call.presence", presence_of(me, "on_call"))
    await send(server, secret, "call.ended", call_id)
    for client in (watcher, suzuki, late):
        await client.expect("call.presence", presence_of(me, "idle"))
    fresh = await connect(server, TANAKA)
    assert fresh.ready is not None and fresh.ready["call_presence"] == []


async def test_an_internal_call_shows_both_people(server: RunningServer) -> None:
    secret = make_secret(server)
    watcher = await connect(server, WATANABE)
    suzuki, tanaka = await connect(server, SUZUKI), await connect(server, TANAKA)
    assert suzuki.ready is not None and tanaka.ready is not None
    callee, caller = suzuki.ready["user"]["id"], tanaka.ready["user"]["id"]
    call_id = f"c-{uuid.uuid4().hex[:8]}"
    await send(server, secret, "call.ringing", call_id, extension=SUZUKI_EXT,
               from_=TANAKA_EXT, to=SUZUKI_EXT, direction="internal")
    await watcher.expect("call.presence", presence_of(callee, "ringing"))
    await watcher.expect("call.presence", presence_of(caller, "on_call"))
    await send(server, secret, "call.missed", call_id, extension=SUZUKI_EXT,
               from_=TANAKA_EXT, to=SUZUKI_EXT, direction="internal", reason="no_answer")
    await watcher.expect("call.presence", presence_of(callee, "idle"))
    await watcher.expect("call.presence", presence_of(caller, "idle"))


async def test_a_lost_end_event_clears_by_timeout(make_server: ServerFactory) -> None:
    server = make_server(pbx_ringing_timeout_seconds=1.0, pbx_max_call_seconds=2.0,
                         pbx_sweep_seconds=0.2)
    secret = make_secret(server)
    watcher = await connect(server, TANAKA)
    token = await dev_token(server, SUZUKI)
    suzuki = await ChatClient.connect(server, token)
    assert suzuki.ready is not None
    me = suzuki.ready["user"]["id"]
    ringing_only = f"c-{uuid.uuid4().hex[:8]}"
    await send(server, secret, "call.ringing", ringing_only)
    await watcher.expect("call.presence", presence_of(me, "ringing"))
    await watcher.expect("call.presence", presence_of(me, "idle"), timeout=4)
    answered = f"c-{uuid.uuid4().hex[:8]}"
    await send(server, secret, "call.answered", answered)
    await watcher.expect("call.presence", presence_of(me, "on_call"))
    await watcher.expect("call.presence", presence_of(me, "idle"), timeout=5)
    # The lapsed call stays lapsed: a retried old event does not bring it back.
    await send(server, secret, "call.answered", answered)
    await watcher.expect_nothing("call.presence", within=0.5)


async def test_call_presence_crosses_nodes_and_any_node_clears_it(
        backend: str, make_server: ServerFactory) -> None:
    if backend != "postgres":
        pytest.skip("several nodes need a shared bus (Redis)")
    options = {"pbx_ringing_timeout_seconds": 1.0, "pbx_sweep_seconds": 0.2}
    node_a, node_b = make_server(**options), make_server(**options)
    secret = make_secret(node_a)
    on_a = await connect(node_a, TANAKA)
    on_b = await ChatClient.connect(node_b, await dev_token(node_b, SUZUKI))
    assert on_b.ready is not None
    me = on_b.ready["user"]["id"]
    await send(node_a, secret, "call.ringing", f"c-{uuid.uuid4().hex[:8]}")
    for client in (on_a, on_b):
        await client.expect("call.presence", presence_of(me, "ringing"))
    for client in (on_a, on_b):
        await client.expect("call.presence", presence_of(me, "idle"), timeout=4)
    # Exactly one node announced the timeout.
    await on_a.expect_nothing("call.presence", presence_of(me, "idle"), within=0.6)
