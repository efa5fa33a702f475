"""What a new user trips on (issue 25), on phones: roles named in Japanese in the demo
picker and on 設定, a desk notice someone claimed offers the others no green 折り返す, and
a group chat's reader list has no 確認済み（0）."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Page, expect

from chat.actions.pbx_directory import import_directory
from chat.domain.directory import DirectoryRow
from tests.integration.pbx_helpers import beside_server, make_secret, missed_call
from tests.support import RunningServer
from tests.support.browser import (
    WAIT_MS,
    PhoneFactory,
    message,
    open_group,
    page_url,
    send,
    sign_in,
)
from tests.support.people import KATO, SUZUKI

pytestmark = pytest.mark.browser

DESK = "2150"


async def go_to(page: Page, view: str) -> None:
    if await page.locator("#back-button").is_visible():
        await page.click("#back-button")
    await page.click(f'.tabs button[data-view="{view}"]')


async def test_roles_are_named_in_japanese_in_the_picker_and_settings(
        server: RunningServer, open_phone: PhoneFactory) -> None:
    page = await open_phone()
    await page.goto(page_url(server))
    option = page.locator(f'#who option[value="{SUZUKI}"]')
    await expect(option).to_have_text("鈴木 花子（庶務係・職員）", timeout=WAIT_MS)
    await expect(page.locator(f'#who option[value="{KATO}"]')).to_contain_text("オペレーター")
    assert "staff" not in await page.locator("#who").inner_text()
    await sign_in(page, server, SUZUKI, "鈴木 花子")
    await go_to(page, "settings")
    await expect(page.locator("#settings-me")).to_have_text("鈴木 花子（職員）でサインイン中")


async def test_a_claimed_desk_notice_shows_the_others_who_has_it_and_no_callback(
        server: RunningServer, open_phone: PhoneFactory) -> None:
    beside_server(server, lambda ctx: import_directory(
        ctx, [DirectoryRow(DESK, "desk", "111", "庶務係 窓口")], by="test"))
    secret = make_secret(server)
    suzuki, kato = await open_phone(), await open_phone()
    await sign_in(suzuki, server, SUZUKI, "鈴木 花子")
    await sign_in(kato, server, KATO, "加藤 恵")
    for page in (suzuki, kato):
        await page.locator("#channel-list button", has_text="庶務係").first.click()
        await expect(page.locator("#channel-title")).to_have_text("庶務係", timeout=WAIT_MS)
    await missed_call(server, secret, extension=DESK)
    cards = [page.locator("#messages li.card") for page in (suzuki, kato)]
    for card in cards:
        await expect(card.locator("a")).to_have_attribute("href", "tel:+81312345678",
                                                          timeout=WAIT_MS)
        await expect(card.locator(".body")).to_contain_text("03-1234-5678")
    mine, theirs = cards
    await mine.get_by_role("button", name="私が対応します").click()
    await expect(theirs.locator(".claimed")).to_have_text("鈴木 花子さんが対応中",
                                                          timeout=WAIT_MS)
    await expect(theirs.locator(".card-actions a")).to_have_count(0)
    await expect(theirs.locator(".card-actions button")).to_have_count(0)
    # The one who claimed it keeps the callback and 対応済みにする.
    await expect(mine.locator(".card-actions a")).to_have_count(1)
    await expect(mine.get_by_role("button", name="対応済みにする")).to_be_visible()


async def test_a_group_chats_reader_list_has_no_confirmed_line(
        server: RunningServer, open_phone: PhoneFactory) -> None:
    page = await open_phone()
    await sign_in(page, server, SUZUKI, "鈴木 花子")
    await open_group(page)
    text = f"日程の件 {uuid.uuid4().hex[:6]}"
    await send(page, text)
    sent = message(page, text)
    await expect(sent).to_be_visible(timeout=WAIT_MS)
    await sent.dispatch_event("contextmenu")         # what a long press opens
    await page.locator("#sheet button", has_text="既読・未読の一覧").click()
    sheet = page.locator("#sheet")
    await expect(sheet.locator('[data-readers="unread"]')).to_be_visible(timeout=WAIT_MS)
    await expect(sheet.locator('[data-readers="confirmed"]')).to_have_count(0)
    assert "確認済み" not in await sheet.inner_text()
    await expect(sheet.locator('[data-readers="read"]')).to_contain_text("まだいません")
