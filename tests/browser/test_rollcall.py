"""A safety roll call on the phone (headless Chromium, phone emulation): HQ starts it,
the card in the all-staff channel answers with one tap, the position only when the person taps
「位置を添付」, the answer shows and can be changed, and HQ's tally sheet follows live."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chat.actions.disaster import declare_disaster, set_hq_members
from chat.context import open_context
from tests.support import RunningServer, beside, sql
from tests.support.browser import WAIT_MS, PhoneFactory, expect_fits_the_phone, sign_in
from tests.support.people import ITO, ROSTER, SUZUKI

pytestmark = pytest.mark.browser

ALL_STAFF = "全庁連絡"


async def open_all_staff(page: Page) -> None:
    await page.locator("#channel-list button", has_text=ALL_STAFF).first.click()
    await expect(page.locator("#channel-title")).to_have_text(ALL_STAFF, timeout=WAIT_MS)


async def test_one_tap_answers_on_the_phone_and_the_hq_sheet_follows_live(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    async with open_context(beside(server.settings)) as ctx:
        await set_hq_members(ctx, [ITO], by="test")
        await declare_disaster(ctx, name="総合防災訓練", drill=True, by="test")
    phone, hq = await open_phone(), await open_phone()
    await phone.context.grant_permissions(["geolocation"])
    await phone.context.set_geolocation({"latitude": 35.6895, "longitude": 139.6917,
                                         "accuracy": 25})
    await sign_in(phone, server, SUZUKI, ROSTER[SUZUKI].name)
    await sign_in(hq, server, ITO, ROSTER[ITO].name)

    # HQ starts it from the phone; staff are not offered to.
    await hq.click("#rollcall-start")
    await hq.select_option("#rollcall-deadline", "60")
    await hq.get_by_role("button", name="全職員に送信する").click()
    await expect(hq.locator("#channel-title")).to_have_text(ALL_STAFF, timeout=WAIT_MS)
    await expect(phone.locator("#channel-list button").first).to_be_visible(timeout=WAIT_MS)
    assert await phone.locator("#rollcall-start").count() == 0
    [(rid, deadline)] = sql(server, "SELECT id, deadline FROM roll_calls")
    assert deadline is not None

    # HQ opens the tally from the card.
    hq_card = hq.locator(f'#messages li[data-rollcall-id="{rid}"]')
    await hq_card.get_by_role("button", name="集計を見る").click()
    tally = hq.locator(".rollcall-tally")
    await expect(tally.locator(".rollcall-totals")).to_contain_text("回答 0/12",
                                                                    timeout=WAIT_MS)

    # On the phone: the drill's card with four big buttons; the position only on a tap.
    await open_all_staff(phone)
    card = phone.locator(f'#messages li[data-rollcall-id="{rid}"]')
    await expect(card.locator(".card-title")).to_contain_text("【訓練】安否確認",
                                                              timeout=WAIT_MS)
    await expect(card.locator(".rollcall-choices button")).to_have_count(4, timeout=WAIT_MS)
    await expect_fits_the_phone(phone)
    await card.get_by_role("button", name="📍 位置を添付").click()
    await expect(card.locator(".rollcall-position")).to_contain_text("位置を添付しました",
                                                                     timeout=WAIT_MS)
    await card.screenshot(path=str(artifacts_dir / "rollcall-card.png"))
    await card.get_by_role("button", name="無事", exact=True).click()
    await expect(card.locator(".rollcall-mine")).to_contain_text("あなたの回答：無事",
                                                                 timeout=WAIT_MS)

    assert sql(server, "SELECT status, latitude_e6, longitude_e6 FROM roll_call_answers "
                       "WHERE roll_call_id = :r", r=rid) == [("safe", 35689500, 139691700)]

    # HQ's sheet follows without a reload.
    await expect(tally.locator(".rollcall-totals")).to_contain_text("回答 1/12",
                                                                    timeout=WAIT_MS)
    await expect(tally.locator('tr[data-department="庶務係"] td[data-status="safe"]')
                 ).to_have_text("1", timeout=WAIT_MS)
    await hq.screenshot(path=str(artifacts_dir / "rollcall-hq.png"))

    # Changing the answer: the buttons again, one tap, stored once.
    await card.get_by_role("button", name="回答を変更する").click()
    await card.get_by_role("button", name="出勤可能").click()
    await expect(card.locator(".rollcall-mine")).to_contain_text("出勤可能", timeout=WAIT_MS)
    await expect(tally.locator('tr[data-department="庶務係"] td[data-status="can_come"]')
                 ).to_have_text("1", timeout=WAIT_MS)
    rows = sql(server, "SELECT status, latitude_e6, longitude_e6 FROM roll_call_answers "
                       "WHERE roll_call_id = :r", r=rid)
    # The second answer attached no position: the first one's is not carried over.
    assert rows == [("can_come", None, None)]
