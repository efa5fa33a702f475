"""The minimal chat page on two phones: demo sign-in, live delivery, typing, 既読, a
session that survives a reload, and message bodies rendered as text, never as HTML."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Dialog, expect

from tests.conftest import ServerFactory
from tests.support import RunningServer
from tests.support.browser import (
    MINE,
    WAIT_MS,
    PhoneFactory,
    expect_connected_as,
    expect_fits_the_phone,
    message,
    open_group,
    page_url,
    send,
    sign_in,
)
from tests.support.people import SUZUKI, TANAKA

pytestmark = pytest.mark.browser

async def test_two_phones_chat_in_a_group(server: RunningServer, open_phone: PhoneFactory,
                                          artifacts_dir: Path) -> None:
    dialogs: list[str] = []

    async def refuse_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    suzuki, tanaka = await open_phone(), await open_phone()
    for page in (suzuki, tanaka):
        page.on("dialog", refuse_dialog)

    await sign_in(suzuki, server, SUZUKI, "鈴木 花子")
    await open_group(suzuki)
    await sign_in(tanaka, server, TANAKA, "田中 美咲")
    await open_group(tanaka)

    # The typing indicator reaches the other phone while the first one types.
    await suzuki.locator("#body").press_sequentially("こんにちは", delay=20)
    await expect(tanaka.locator("#typing")).to_have_text("鈴木 花子さんが入力中…",
                                                         timeout=WAIT_MS)

    greeting = "こんにちは、田中さん"
    await send(suzuki, greeting)
    mine = message(suzuki, greeting)
    await expect(mine).to_have_class(MINE, timeout=WAIT_MS)
    await expect(message(tanaka, greeting)).to_be_visible(timeout=WAIT_MS)
    await expect(message(tanaka, greeting).locator(".who")).to_have_text("鈴木 花子")
    # The message itself ends the sender's typing indicator.
    await expect(tanaka.locator("#typing")).to_have_text("", timeout=WAIT_MS)

    # Tanaka has the channel open, so Suzuki's message counts one reader.
    await expect(mine.locator(".read")).to_have_text("既読 1", timeout=WAIT_MS)

    reply = "鈴木さん、お疲れさまです。"
    await send(tanaka, reply)
    await expect(message(suzuki, reply)).to_be_visible(timeout=WAIT_MS)
    await expect(message(suzuki, reply)).not_to_have_class(MINE)
    await expect(message(tanaka, reply)).to_have_class(MINE)

    # Markup in a body stays text on both phones: no element is created, nothing runs.
    markup = "<img src=x onerror=alert(1)>"
    await send(suzuki, markup)
    for page in (suzuki, tanaka):
        await expect(message(page, markup).locator(".body")).to_have_text(markup,
                                                                          timeout=WAIT_MS)
        await expect(page.locator("#messages img")).to_have_count(0)

    for page in (suzuki, tanaka):
        await expect_fits_the_phone(page)
    await suzuki.screenshot(path=artifacts_dir / f"minimal-page-{SUZUKI}-suzuki.png")
    await tanaka.screenshot(path=artifacts_dir / f"minimal-page-{TANAKA}-tanaka.png")

    # The session lives in sessionStorage: a reload goes straight back to the chat.
    await suzuki.reload()
    await expect_connected_as(suzuki, "鈴木 花子")
    await open_group(suzuki)
    for text in (greeting, reply, markup):
        await expect(message(suzuki, text)).to_be_visible(timeout=WAIT_MS)
    await expect(message(suzuki, greeting).locator(".read")).to_have_text("既読 1",
                                                                          timeout=WAIT_MS)
    await expect(suzuki.locator("#messages img")).to_have_count(0)
    await suzuki.screenshot(path=artifacts_dir / f"minimal-page-{SUZUKI}-suzuki-reloaded.png")

    assert dialogs == [], "a message body ran script"


@pytest.fixture
def server_without_dev_sessions(make_server: ServerFactory) -> RunningServer:
    return make_server(dev_sessions=False)


async def test_without_dev_sessions_the_page_offers_no_demo_sign_in(
        server_without_dev_sessions: RunningServer, open_phone: PhoneFactory,
        artifacts_dir: Path) -> None:
    server = server_without_dev_sessions
    page = await open_phone()
    await page.goto(page_url(server))

    await expect(page.locator("body")).to_have_attribute("data-demo", "off", timeout=WAIT_MS)
    await expect(page.locator("#signin")).to_contain_text("デモ用サインインは無効です")
    await expect(page.locator("#who")).to_have_count(0)
    await expect(page.locator("#signin-button")).to_have_count(0)
    await page.screenshot(path=artifacts_dir / "minimal-page-no-dev-sessions.png")

    response = await page.request.post(f"{page_url(server)}dev/session",
                                       data={"staff_number": SUZUKI}, timeout=WAIT_MS)
    assert response.status == 403
    body = await response.json()
    assert body["error"]["code"] == "dev_sessions_disabled"
