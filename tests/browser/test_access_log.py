"""Transparency on the phone (docs/audit.md): after an auditor searched a person's
messages with a reason, 設定 lists it in Japanese — 監査担当, the channel, the Japan
time and the reason — and someone whose messages were not read sees that none were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from chat.client import TsunaguClient
from chat.domain.dates import JST
from tests.support import RunningServer, device_client, enrollment_code
from tests.support.browser import PhoneFactory, sign_in
from tests.support.people import SUZUKI, TANAKA, YOSHIDA

pytestmark = pytest.mark.browser

REASON = "情報公開請求（令和8年第12号）への対応"


async def test_settings_lists_an_auditor_search_of_ones_messages_in_japanese(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    auditor: TsunaguClient = device_client(server)
    await auditor.enroll(enrollment_code(server, YOSHIDA))
    await auditor.sign_in()
    async with auditor:
        query = httpx.QueryParams(user=SUZUKI, reason=REASON)
        response = await auditor.request("GET", f"/api/audit/messages?{query}")
        assert response.status_code == 200, response.text
        assert response.json()["messages"], "SUZUKI has seeded messages"
    read_at = datetime.now(UTC).astimezone(JST)

    phone = await open_phone()
    await sign_in(phone, server, SUZUKI, "鈴木 花子")
    await phone.click('.tabs button[data-view="settings"]')
    section = phone.locator("#access-log")
    await expect(section.locator("h3")).to_have_text("あなたのメッセージの閲覧・書き出し記録")
    entries = section.locator("#access-list li")
    await expect(entries.first).to_be_visible()
    first = entries.first
    await expect(first).to_contain_text("監査担当・検索で閲覧")
    await expect(first.locator(".reason")).to_have_text(f"理由：{REASON}")
    # Japan time, as the phone shows it (the minute may turn over: either is fine).
    shown = await first.locator(".when").inner_text()
    assert shown.startswith(f"{read_at.year}/{read_at.month}/{read_at.day}"), shown
    assert "吉田" not in await section.inner_text()  # by role, not by name
    await phone.screenshot(path=artifacts_dir / "settings-access-log.png")

    other = await open_phone()
    await sign_in(other, server, TANAKA, "田中 美咲")
    await other.click('.tabs button[data-view="settings"]')
    await expect(other.locator("#access-status")).to_have_text(
        "あなたのメッセージが閲覧・書き出しされた記録はありません。")
    await expect(other.locator("#access-list li")).to_have_count(0)
