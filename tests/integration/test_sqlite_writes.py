"""SQLite write transactions run on the event loop's thread (chat/store/sqlite_inline.py):
a write that finds the database locked by another process waits without holding up the
server, and the write-ahead log is still copied back into the database file."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.support import ChatClient, RunningServer, auth_headers, dev_token
from tests.support.people import SUZUKI, TAKAHASHI


@pytest.fixture
def backend() -> str:
    """These tests are about the embedded database only."""
    return "sqlite"


def database_file(server: RunningServer) -> Path:
    database = make_url(server.settings.database_url).database
    assert database
    return Path(database)


def department_channel(client: ChatClient) -> int:
    assert client.ready is not None
    return int(next(c["id"] for c in client.ready["channels"] if c["kind"] == "department"))


async def test_a_send_waits_for_another_process_lock_while_the_server_serves_others(
        server: RunningServer) -> None:
    sender = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    reader_token = await dev_token(server, TAKAHASHI)
    reader = await ChatClient.connect(server, reader_token)
    channel_id = department_channel(sender)
    # Another process (a CLI command, say) holds SQLite's write lock.
    other = sqlite3.connect(database_file(server), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        await sender.send({"type": "send", "channel_id": channel_id,
                           "client_id": "locked-out", "body": "ロック中の送信"})
        await sender.expect_nothing("ack", within=0.5)
        # Meanwhile, with the lock still held, the server answers reads and other
        # connections (were the loop waiting inside SQLite, neither would come back).
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            response = await http.get(f"/api/channels/{channel_id}/messages",
                                      headers=auth_headers(reader_token))
        assert response.status_code == 200, response.text
        await reader.send({"type": "ping"})
        await reader.expect("pong")
    finally:
        other.execute("COMMIT")
        other.close()
    ack = await sender.expect("ack", lambda f: f["client_id"] == "locked-out")
    delivered = await reader.expect("message",
                                    lambda f: f["message"]["client_id"] == "locked-out")
    assert delivered["message"]["seq"] == ack["message"]["seq"]
    assert ack["duplicate"] is False


async def test_the_write_ahead_log_is_copied_back_into_the_database_file(
        server: RunningServer, tmp_path: Path) -> None:
    client = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    channel_id = department_channel(client)
    for n in range(20):
        await client.send_message(channel_id, f"チェックポイント {n}", f"checkpoint-{n}")
    await asyncio.sleep(1.2)        # past CHECKPOINT_EVERY_SECONDS: the next commit
    await client.send_message(channel_id, "もう一通", "checkpoint-last")   # starts one
    # The database file alone (without its -wal) holds the first messages once a
    # checkpoint has run; the server's connections stay open, so nothing else runs one.
    deadline = time.monotonic() + 10
    copied = 0
    while time.monotonic() < deadline:
        copy = tmp_path / "copy.db"
        shutil.copyfile(database_file(server), copy)
        with sqlite3.connect(copy) as conn:
            copied = conn.execute("SELECT count(*) FROM messages "
                                  "WHERE client_id LIKE 'checkpoint-%'").fetchone()[0]
        copy.unlink()
        if copied >= 20:
            break
        await asyncio.sleep(0.2)
    assert copied >= 20
