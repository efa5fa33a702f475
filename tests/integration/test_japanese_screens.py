"""What a new user trips on (issue 25), over real sockets: the console says refusals,
directory kinds and node times in Japanese and Japan time, forgets nodes long gone, and
the CLI's enrollment line is in Japan time whatever zone the server runs in."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from chat.actions.nodes import PREFIX
from chat.actions.pbx_directory import import_directory
from chat.context import AppContext
from chat.domain.dates import JST
from chat.domain.directory import DirectoryRow
from chat.store.uow import TxMode, unit_of_work
from tests.conftest import ServerFactory
from tests.integration.pbx_helpers import beside_server
from tests.support import RunningServer, run_tsunagu, signed_in, sql
from tests.support.people import SUZUKI, YAMADA

ADMIN = YAMADA


async def test_a_refusal_is_said_in_japanese_and_in_english_only_to_english_readers(
        server: RunningServer) -> None:
    admin = await signed_in(server, ADMIN)
    async with admin:
        page = await admin.request("GET", "/admin/records/search")
        assert page.status_code == 403 and 'data-code="role_required"' in page.text
        text = re.sub(r"<[^>]+>", " ", page.text)
        assert "あなたの役割（管理者）では利用できません。利用できる役割：監査担当者" in text
        assert "Your role" not in text and "may not" not in text
        english = await admin.request("GET", "/admin/records/search?lang=en")
        assert "Your role (Administrator) may not use this. Who may: Auditor" in english.text
        assert "Your role (admin) may not search records" in english.text


async def test_the_extension_directory_names_kinds_and_groups_numbers(
        server: RunningServer) -> None:
    rows = [DirectoryRow("+81399990000", "contact", "", "県庁 防災課"),
            DirectoryRow("2150", "desk", "111", "庶務係 窓口")]
    beside_server(server, lambda ctx: import_directory(ctx, rows, by="test"))
    admin = await signed_in(server, ADMIN)
    async with admin:
        page = (await admin.request("GET", "/admin/pbx/directory")).text
    contact = re.search(r'<tr data-number="\+81399990000" data-kind="contact">(.*?)</tr>',
                        page, re.S)
    desk = re.search(r'<tr data-number="2150" data-kind="desk">(.*?)</tr>', page, re.S)
    assert contact and desk, page
    assert "<td>03-9999-0000</td><td>外部の連絡先</td>" in contact.group(1)
    assert "<td>2150</td><td>窓口・係の共有電話</td>" in desk.group(1)
    assert ">contact<" not in page and ">desk<" not in page


async def test_health_shows_japan_time_and_stopped_nodes_then_forgets_them(
        make_server: ServerFactory) -> None:
    server = make_server()
    now = datetime.now(UTC).replace(microsecond=0)
    silent = {"node-crashed": now - timedelta(hours=2), "node-gone": now - timedelta(hours=25)}

    async def plant(ctx: AppContext) -> None:
        async with unit_of_work(ctx.db, TxMode.WRITE) as uow:
            for node, seen in silent.items():
                await uow.system_settings.put(
                    PREFIX + node, {"connections": 0, "bus": True,
                                    "started_at": "2026-12-01T00:00:00Z"}, at=seen, by=node)

    beside_server(server, plant)
    admin = await signed_in(server, ADMIN)
    async with admin:
        page = (await admin.request("GET", "/admin/health")).text
    crashed = re.search(r'<tr data-node="node-crashed" data-stale="1" data-state="stopped">'
                        r'(.*?)</tr>', page, re.S)
    assert crashed, page
    assert "<td>停止</td>" in crashed.group(1)
    seen_jst = silent["node-crashed"].astimezone(JST).strftime("%Y-%m-%d %H:%M:%S")
    assert seen_jst in crashed.group(1)
    assert "2026-12-01 09:00:00" in crashed.group(1)        # started_at, Japan time
    assert " UTC" not in page
    assert 'data-node="node-gone"' not in page
    # A second node's heartbeat forgets the long-silent one for good; stopping cleanly
    # takes a node off the list at once.
    second = make_server()
    keys = {k for (k,) in sql(server, "SELECT key FROM system_settings WHERE key LIKE 'node:%'")}
    assert PREFIX + "node-gone" not in keys and PREFIX + "node-crashed" in keys
    assert PREFIX + second.settings.node_id in keys
    second.stop()
    keys = {k for (k,) in sql(server, "SELECT key FROM system_settings WHERE key LIKE 'node:%'")}
    assert PREFIX + second.settings.node_id not in keys


async def test_the_cli_prints_the_enrollment_expiry_in_japan_time(
        server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")                 # a server in UTC, as most are
    before = datetime.now(UTC)
    result = await run_tsunagu(server, "device", "enroll", SUZUKI, "--label", "x", "--no-qr",
                               "--ttl-minutes", "30")
    assert result.returncode == 0, result.stderr
    until = re.search(r"valid once, until (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) JST", result.stdout)
    assert until, result.stdout
    shown = datetime.strptime(until.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=JST)
    assert timedelta(minutes=29) <= shown - before <= timedelta(minutes=31)


async def test_the_cli_lists_legal_holds_in_japan_time(
        server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    placed = await run_tsunagu(server, "hold", "place", "--reason", "情報公開請求",
                               "--user", SUZUKI, "--since", "2026-04-01")
    assert placed.returncode == 0, placed.stderr
    listed = await run_tsunagu(server, "hold", "list")
    assert listed.returncode == 0, listed.stderr
    # The day typed is a day in Japan time, and is shown as one (not 2026-03-31T15:00Z).
    assert "from 2026-04-01 00:00 until … JST" in listed.stdout, listed.stdout
