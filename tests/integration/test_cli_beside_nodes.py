"""A `tsunagu` command run beside a node reaches the node's open pages within a second,
on the embedded default (SQLite, the in-process bus: through the database's bus outbox,
chat/bus/outbox.py) as on PostgreSQL + Redis (the CLI publishes on Redis)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from chat.bus.outbox import KEEP_SECONDS
from tests.support import (
    ChatClient,
    RunningServer,
    dev_token,
    read_until_closed,
    run_tsunagu,
    signed_in,
    sql,
)
from tests.support.people import SUZUKI

# Bounds a page may wait after the command returned (the node polls every 0.25 s).
WITHIN = 1.5

# 鈴木 (庶務係) moves to 防災係.
MOVE_SUZUKI = """staff_number,name,kana,department_code,role,extension,active
1002,鈴木 花子,すずき はなこ,121,staff,2202,1
"""


async def test_import_staff_moves_an_open_page_within_a_second(
        server: RunningServer, tmp_path: Path) -> None:
    client = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text(MOVE_SUZUKI, encoding="utf-8")
    result = await run_tsunagu(server, "import", "staff", str(csv_file))
    done = time.monotonic()
    assert result.returncode == 0, result.stderr
    assert "1 moved" in result.stdout
    joined = await client.expect("channel.joined",
                                 lambda f: f["channel"]["name"] == "防災係", timeout=WITHIN)
    left = await client.expect("channel.left", timeout=WITHIN)
    assert time.monotonic() - done <= WITHIN
    assert joined["channel"]["name"] == "防災係"
    assert left["channel_id"] != joined["channel"]["id"]


async def test_device_revoke_closes_an_open_connection_within_a_second(
        server: RunningServer) -> None:
    """The node's revocation sweep alone gets there in about a second too; the outbox
    carries the revocation's own event, as Redis does."""
    async with await signed_in(server) as client:
        ws, _ = await client.connect()
        device_id = (await client.request("GET", "/api/me")).json()["session"]["device_id"]
        closed = asyncio.create_task(read_until_closed(ws, 10))
        result = await run_tsunagu(server, "device", "revoke", str(device_id))
        done = time.monotonic()
        assert result.returncode == 0, result.stderr
        await closed
        assert time.monotonic() - done <= WITHIN
        assert ws.close_code == 4002


async def test_disaster_declared_on_the_cli_shows_on_open_pages_within_a_second(
        server: RunningServer) -> None:
    """Nothing but the bus carries this one (no sweep): before the outbox, an open page
    on the embedded node saw the banner only when it next connected."""
    client = await ChatClient.connect(server, await dev_token(server, SUZUKI))
    result = await run_tsunagu(server, "disaster", "declare", "総合防災訓練", "--drill")
    done = time.monotonic()
    assert result.returncode == 0, result.stderr
    frame = await client.expect("disaster.changed", timeout=WITHIN)
    assert time.monotonic() - done <= WITHIN
    assert frame["disaster"]["drill"] is True


async def test_the_outbox_is_written_only_on_the_embedded_bus_and_pruned(
        server: RunningServer, tmp_path: Path) -> None:
    """On memory:// the CLI's events wait in the table, and rows older than an hour go
    on the next write; on Redis the CLI publishes there and writes no row (the test's
    own set-up, beside the node on memory://, may have)."""
    old = datetime.now(UTC) - timedelta(seconds=KEEP_SECONDS + 60)
    embedded = server.settings.bus_url.startswith("memory")
    sql(server, "INSERT INTO bus_outbox (topic, data, created_at) VALUES ('presence', '{}', "
                ":at)", at=old.replace(tzinfo=None).isoformat(" ") if
        server.settings.database_url.startswith("sqlite") else old)
    csv_file = tmp_path / "staff.csv"
    csv_file.write_text(MOVE_SUZUKI, encoding="utf-8")
    (before,) = sql(server, "SELECT max(id) FROM bus_outbox")[0]
    result = await run_tsunagu(server, "import", "staff", str(csv_file))
    assert result.returncode == 0, result.stderr
    rows = sql(server, "SELECT id, topic FROM bus_outbox ORDER BY id")
    new = [topic for row_id, topic in rows if row_id > before]
    if embedded:
        assert "presence" not in {topic for _, topic in rows}   # pruned
        assert any(topic.startswith("membership.joined:") for topic in new)
    else:
        assert new == []
