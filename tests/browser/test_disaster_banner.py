"""Declaring a drill from the phone: a crisis-management member declares it on 設定, and
another phone shows the 【訓練】 banner at the top of its screen within seconds, styled
as a drill, until the drill is ended."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.support import RunningServer, sql
from tests.support.browser import PhoneFactory, sign_in
from tests.support.people import SUZUKI, TANAKA

pytestmark = pytest.mark.browser

SECONDS = 5_000     # "within seconds" of the declaration


async def test_a_drill_declared_on_one_phone_shows_its_banner_on_another_until_it_ends(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    sql(server, "UPDATE users SET role = 'crisis' WHERE staff_number = :n", n=TANAKA)
    crisis, staff = await open_phone(), await open_phone()
    await sign_in(crisis, server, TANAKA, "田中 美咲")
    await sign_in(staff, server, SUZUKI, "鈴木 花子")
    banner = staff.locator("#disaster-banner")
    await expect(banner).to_be_hidden()

    # Only those who may declare see the panel.
    await staff.click('.tabs button[data-view="settings"]')
    await expect(staff.locator("#disaster-panel")).to_be_hidden()
    await staff.click('.tabs button[data-view="chats"]')

    await crisis.click('.tabs button[data-view="settings"]')
    await expect(crisis.locator("#disaster-panel")).to_be_visible()
    await expect(crisis.locator("#disaster-drill")).to_be_checked()    # a drill by default
    await crisis.fill("#disaster-name", "総合防災訓練")
    await crisis.click("#disaster-declare")
    await expect(crisis.locator("#disaster-confirm-text")).to_contain_text("【訓練】総合防災訓練")
    await crisis.click("#disaster-confirm-yes")

    await expect(banner).to_be_visible(timeout=SECONDS)
    await expect(banner).to_have_attribute("data-drill", "on")
    await expect(staff.locator("#disaster-banner-title")).to_have_text("【訓練】総合防災訓練")
    await expect(staff.locator("#disaster-banner-note")).to_contain_text("訓練です")
    await expect(crisis.locator("#disaster-banner")).to_be_visible(timeout=SECONDS)
    await staff.screenshot(path=str(artifacts_dir / "disaster-drill-banner.png"))

    await expect(crisis.locator("#disaster-end")).to_be_visible()
    await crisis.click("#disaster-end")
    await crisis.click("#disaster-confirm-yes")
    await expect(banner).to_be_hidden(timeout=SECONDS)
    await expect(crisis.locator("#disaster-form")).to_be_visible(timeout=SECONDS)
