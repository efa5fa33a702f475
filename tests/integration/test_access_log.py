"""Transparency for staff (docs/audit.md): an auditor must give a reason to search, read
or export messages, and the people who sent them see when, where and why through
``GET /api/me/access``; others see nothing; a confidential legal hold hides the access
until it is released. Real server, real device-bound sessions (DPoP)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx

from chat.client import TsunaguClient
from tests.support import (
    ChatClient,
    RunningServer,
    dev_token,
    device_client,
    enrollment_code,
    run_tsunagu,
)
from tests.support.people import SUZUKI, TANAKA, YAMADA, YOSHIDA

AUDITOR, ADMIN = YOSHIDA, YAMADA
REASON = "情報公開請求（令和8年第12号）への対応"


async def signed_in(server: RunningServer, staff_number: str) -> TsunaguClient:
    client: TsunaguClient = device_client(server)
    await client.enroll(enrollment_code(server, staff_number))
    await client.sign_in()
    return client


async def call(client: TsunaguClient, method: str, path: str, status: int,
               **kwargs: Any) -> dict[str, Any]:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def search(client: TsunaguClient, status: int = 200, **params: str | int
                 ) -> dict[str, Any]:
    return await call(client, "GET", f"/api/audit/messages?{httpx.QueryParams(params)}",
                      status)


async def access(client: TsunaguClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await call(client, "GET", "/api/me/access", 200))[
        "entries"]
    return entries


async def post(server: RunningServer, staff_number: str, channel: str, text: str
               ) -> tuple[int, int]:
    """Send ``text`` as ``staff_number`` in their channel ``channel``: (message, channel)."""
    chat = await ChatClient.connect(server, await dev_token(server, staff_number))
    assert chat.ready is not None
    channel_id = next(c["id"] for c in chat.ready["channels"] if c["name"] == channel)
    message_id = (await chat.send_message(channel_id, text))["message"]["id"]
    return message_id, channel_id


async def wait_done(client: TsunaguClient, export_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        job: dict[str, Any] = (await call(client, "GET", f"/api/audit/exports/{export_id}",
                                          200))["export"]
        if job["state"] != "running":
            return job
        assert time.monotonic() < deadline, job
        await asyncio.sleep(0.1)


async def test_search_view_and_export_are_refused_without_a_reason(
        server: RunningServer) -> None:
    message_id, _ = await post(server, TANAKA, "防災係", "防災無線の点検は12月1日です")
    async with await signed_in(server, AUDITOR) as auditor:
        for params in ({"q": "防災"}, {"q": "防災", "reason": "  "}, {"reason": "ab"},
                       {"reason": "x" * 501}):
            refused = await search(auditor, 400, **params)
            assert refused["error"]["code"] == "reason_required", params
        refused = await call(auditor, "GET", f"/api/audit/messages/{message_id}", 400)
        assert refused["error"]["code"] == "reason_required"
        refused = await call(auditor, "POST", "/api/audit/exports", 400,
                             json={"formats": ["jsonl"], "filters": {}})
        assert refused["error"]["code"] == "reason_required"
        # With one, each goes through.
        assert [m["id"] for m in (await search(auditor, q="防災無線", reason=REASON))[
            "messages"]] == [message_id]
        await call(auditor, "GET", f"/api/audit/messages/{message_id}?"
                   f"{httpx.QueryParams(reason=REASON)}", 200)
    # Someone who may not read records is refused as before (403), reason or not.
    async with await signed_in(server, ADMIN) as admin:
        assert (await search(admin, 403, reason=REASON))["error"]["code"] == "role_required"


async def test_the_sender_sees_each_access_and_others_see_nothing(
        server: RunningServer) -> None:
    tanaka_msg, bousai = await post(server, TANAKA, "防災係", "避難所の鍵は金庫の中です")
    suzuki_msg, shomu = await post(server, SUZUKI, "庶務係", "備品の発注は明日です")
    before = datetime.now().astimezone()
    async with await signed_in(server, AUDITOR) as auditor:
        found = await search(auditor, user=TANAKA, channel_id=bousai, reason=REASON)
        assert tanaka_msg in [m["id"] for m in found["messages"]]
        async with await signed_in(server, SUZUKI) as suzuki:
            assert await access(suzuki) == []  # nothing of hers was read yet
            await call(auditor, "GET", f"/api/audit/messages/{suzuki_msg}?"
                       f"{httpx.QueryParams(reason='ハラスメント相談の事実確認')}", 200)
            started = await call(auditor, "POST", "/api/audit/exports", 202, json={
                "formats": ["jsonl"], "filters": {"channel_id": shomu},
                "reason": "文書開示請求への対応"})
            assert (await wait_done(auditor, started["export"]["id"]))["state"] == "done"
            seen = await access(suzuki)
        async with await signed_in(server, TANAKA) as tanaka:
            tanaka_seen = await access(tanaka)
    # TANAKA: the search, in 防災係, with its time and reason; nothing of 庶務係.
    assert len(tanaka_seen) == 1, tanaka_seen
    entry = tanaka_seen[0]
    assert entry["kind"] == "search" and entry["accessor"] == "auditor"
    assert entry["reason"] == REASON
    assert entry["channel"]["id"] == bousai and entry["channel"]["name"] == "防災係"
    assert entry["messages"] >= 1
    at = datetime.fromisoformat(entry["at"])
    assert abs((at - before).total_seconds()) < 120
    # The auditor is named by role only.
    assert "吉田" not in str(tanaka_seen) and YOSHIDA not in str(tanaka_seen)
    # SUZUKI: the export, then the view, newest first, each with its reason.
    assert [(e["kind"], e["reason"], e["channel"]["id"]) for e in seen] == [
        ("export", "文書開示請求への対応", shomu),
        ("view", "ハラスメント相談の事実確認", shomu)]
    assert seen[1]["messages"] == 1 and seen[0]["messages"] is None


async def test_a_confidential_hold_hides_the_access_until_it_is_released(
        server: RunningServer) -> None:
    await post(server, TANAKA, "防災係", "点検記録を共有します")
    _, shomu = await post(server, SUZUKI, "庶務係", "備品の発注は明日です")
    async with await signed_in(server, AUDITOR) as auditor:
        hold = await call(auditor, "POST", "/api/records/holds", 201, json={
            "reason": "内部調査", "staff_number": TANAKA, "confidential": True})
        assert hold["confidential"] is True
        plain = await call(auditor, "POST", "/api/records/holds", 201, json={
            "reason": "通常の保全", "staff_number": SUZUKI})
        assert plain["confidential"] is False
        await search(auditor, user=TANAKA, reason="内部調査のための確認")
        await search(auditor, user=SUZUKI, reason="通常保全の確認作業")
        async with await signed_in(server, TANAKA) as tanaka, \
                await signed_in(server, SUZUKI) as suzuki:
            assert await access(tanaka) == []  # hidden while the hold is active
            # A hold that is not confidential hides nothing.
            suzuki_seen = await access(suzuki)
            assert shomu in {e["channel"]["id"] for e in suzuki_seen}
            assert {e["reason"] for e in suzuki_seen} == {"通常保全の確認作業"}
            await call(auditor, "POST", f"/api/records/holds/{hold['id']}/release", 200)
            shown = await access(tanaka)
    assert shown and {(e["kind"], e["reason"]) for e in shown} == {
        ("search", "内部調査のための確認")}


async def test_the_command_line_reason_and_confidential_hold_reach_the_record(
        server: RunningServer) -> None:
    _, shomu = await post(server, SUZUKI, "庶務係", "備品の発注は明日です")
    placed = await run_tsunagu(server, "hold", "place", "--reason", "内部調査",
                               "--channel", str(shomu), "--confidential")
    assert placed.returncode == 0, placed.stderr
    searched = await run_tsunagu(server, "audit", "search", "--channel", str(shomu),
                                 "--reason", "庁内調査の記録確認")
    assert searched.returncode == 0, searched.stderr
    async with await signed_in(server, SUZUKI) as suzuki:
        assert await access(suzuki) == []  # the confidential hold covers 庶務係
        hold_id = placed.stdout.split()[2]
        released = await run_tsunagu(server, "hold", "release", hold_id)
        assert released.returncode == 0, released.stderr
        shown = await access(suzuki)
    assert [(e["accessor"], e["kind"], e["reason"], e["channel"]["id"]) for e in shown] == [
        ("cli", "search", "庁内調査の記録確認", shomu)]
