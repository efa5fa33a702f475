"""A connection's life: its session's expiry, memberships that change beside it, and
unexpected server failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import ServerFactory
from tests.support import ChatClient, ManualClock, RunningServer, dev_token, run_tsunagu
from tests.support.people import SUZUKI, TAKAHASHI, TANAKA


async def test_a_connection_closes_with_4002_when_its_session_expires(
        make_server: ServerFactory) -> None:
    clock = ManualClock()
    server = make_server(session_ttl_seconds=3600, app_kwargs={"clock": clock})
    token = await dev_token(server, SUZUKI)
    client = await ChatClient.connect(server, token)
    clock.advance(3599)
    await client.send({"type": "ping"})
    await client.expect("pong")
    clock.advance(2)
    await client.send({"type": "ping"})
    await client.ws.wait_closed()
    assert client.ws.close_code == 4002
    # The expired token no longer opens a connection; a fresh session does.
    again = await ChatClient.connect(server)
    await again.send({"type": "auth", "token": token})
    assert (await again.expect("error"))["code"] == "unauthenticated"
    fresh = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    assert fresh.ready is not None and fresh.ready["user"]["name"] == "鈴木 花子"


async def test_changes_the_bus_could_not_carry_are_reconciled(
        make_server: ServerFactory, tmp_path: Path) -> None:
    # A CLI import beside a node whose bus is in-process: no event reaches the node, so
    # the periodic reconciliation must move the connections.
    server = make_server(membership_reconcile_seconds=0.2)
    moved = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    leaver = await ChatClient.connect(server, await dev_token(server, TAKAHASHI))
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text(
        "staff_number,name,kana,department_code,role,extension,active\n"
        "1002,鈴木 花子,すずき はなこ,121,staff,2202,1\n"
        "1003,高橋 健,たかはし けん,112,staff,2102,0\n", encoding="utf-8")
    result = await run_tsunagu(server, "import", "staff", str(csv_file),
                               bus_url="memory://")
    assert result.returncode == 0, result.stderr

    joined = await moved.expect("channel.joined", lambda f: f["channel"]["name"] == "防災係")
    left = {(await moved.expect("channel.left"))["channel_id"] for _ in range(2)}
    assert moved.ready is not None
    old = {c["id"] for c in moved.ready["channels"] if c["name"] in {"庶務係", "総務課"}}
    assert left == old
    # The deactivated colleague is disconnected.
    await leaver.ws.wait_closed()
    assert leaver.ws.close_code == 4002
    # Messages of the new section now arrive; the old section's no longer do.
    sender = await ChatClient.connect(server, await dev_token(server, TANAKA))
    await sender.send_message(joined["channel"]["id"], "防災係へようこそ")
    assert (await moved.expect("message"))["message"]["body"] == "防災係へようこそ"


async def test_an_unexpected_server_failure_sends_internal_error_and_closes_1011(
        backend: str, server: RunningServer) -> None:
    if backend != "sqlite":
        pytest.skip("breaks the schema of an embedded database file")
    client = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    assert client.ready is not None
    group = next(c for c in client.ready["channels"] if c["name"] == "忘年会幹事")["id"]
    path = make_url(server.settings.database_url).database
    assert path is not None
    with sqlite3.connect(path) as db:   # an operator's mistake, say
        db.execute("DROP TABLE message_revisions")
    await client.send({"type": "send", "channel_id": group, "client_id": "x", "body": "a"})
    assert (await client.expect("error"))["code"] == "internal_error"
    await client.ws.wait_closed()
    assert client.ws.close_code == 1011
