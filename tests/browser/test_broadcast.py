"""An urgent broadcast (緊急放送) on real phones: the sender's 🚨 form, the full-screen
alert on a muted member's phone over the conversation on screen (with the chime and the
vibration) and on a phone signed in afterwards, 確認しました, and the sender's count
going up live."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from chat.actions.broadcast import set_broadcast_group
from chat.context import open_context
from tests.support import RunningServer, auth_headers, beside, dev_token
from tests.support.browser import WAIT_MS, PhoneFactory, open_group, sign_in
from tests.support.people import ITO, ROSTER, SUZUKI, TANAKA

pytestmark = pytest.mark.browser

FLOOR = "本庁舎3階"
TEXT = "3階で火災報知器が作動しました。階段で避難してください。"
# Records what the page asks the vibration motor to do (headless Chromium has none).
RECORD_VIBRATION = """
window.__vibrations = [];
navigator.vibrate = (pattern) => { window.__vibrations.push(pattern); return true; };
"""


async def test_an_urgent_broadcast_reaches_a_muted_member_full_screen_and_is_counted(
        server: RunningServer, open_phone: PhoneFactory) -> None:
    async with open_context(beside(server.settings)) as ctx:
        group = await set_broadcast_group(ctx, FLOOR, staff_numbers=[SUZUKI, TANAKA],
                                          department_codes=[], by="test")
    token = await dev_token(server, TANAKA)
    async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as http:
        muted = await http.put(f"/api/channels/{group.channel_id}/mute",
                               headers=auth_headers(token), json={"muted": True})
    assert muted.status_code == 200

    tanaka = await open_phone()
    await tanaka.add_init_script(RECORD_VIBRATION)
    await sign_in(tanaka, server, TANAKA, ROSTER[TANAKA].name)
    await open_group(tanaka)          # reading another conversation when it comes

    ito = await open_phone()
    await sign_in(ito, server, ITO, ROSTER[ITO].name)
    await ito.locator("#broadcast-button").click()
    await ito.select_option(".broadcast-form select", FLOOR)
    await ito.fill(".broadcast-form textarea", TEXT)
    await ito.locator(".broadcast-form button[type=submit]").click()
    await expect(ito.locator(".broadcast-form")).to_have_count(0, timeout=WAIT_MS)

    alert = tanaka.locator(".broadcast-alert")
    await expect(alert).to_be_visible(timeout=WAIT_MS)
    await expect(alert.locator(".broadcast-text")).to_have_text(TEXT)
    await expect(alert).to_contain_text(FLOOR)
    await expect(alert).to_have_attribute("data-sound", "on")
    assert await tanaka.evaluate("() => window.__vibrations.length") >= 1
    await expect(alert.locator(".broadcast-speak")).to_have_text("読み上げ")
    box = await alert.bounding_box()
    assert box is not None and box["width"] >= 390 and box["height"] >= 844   # full screen

    # A phone signed in after it was sent opens it too.
    suzuki = await open_phone()
    await sign_in(suzuki, server, SUZUKI, ROSTER[SUZUKI].name)
    await expect(suzuki.locator(".broadcast-alert .broadcast-text")).to_have_text(
        TEXT, timeout=WAIT_MS)

    # The sender follows the confirmations in the group's channel.
    await ito.locator("#channel-list button", has_text=FLOOR).first.click()
    count = ito.locator(".broadcast-count")
    await expect(count).to_have_text("確認 0 / 2 人", timeout=WAIT_MS)

    await alert.locator(".broadcast-confirm").click()
    await expect(alert).to_have_count(0, timeout=WAIT_MS)
    await expect(count).to_have_text("確認 1 / 2 人", timeout=WAIT_MS)
