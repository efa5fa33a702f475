"""What a new user trips on, walked through on a phone (issue 25): refusals and mentions
said in the one notice region every screen has, read-only channels shown read-only, the
unread badge after backing out of a chat, why Web Push could not be turned on, and a
clean signed-out screen after a forced sign-out (a revoked device: no passkey sign-in).

Web Push's own service is outside the test: where a test needs the browser's push
service to answer in a particular way (no service, or an address the server refuses),
``PushManager`` is replaced in the page by a stand-in; the page and the server are real.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from tests.conftest import ServerFactory
from tests.support import ManualClock, RunningServer, run_tsunagu, sql
from tests.support.browser import (
    GROUP,
    NAME,
    WAIT_MS,
    PhoneFactory,
    add_platform_authenticator,
    enrollment_link,
    expect_connected_as,
    message,
    open_group,
    page_url,
    send,
    sign_in,
)
from tests.support.people import ROSTER, SATO, SUZUKI, TANAKA

pytestmark = pytest.mark.browser

TOKYO = ZoneInfo("Asia/Tokyo")
ALL_STAFF = "全庁連絡"
ANNOUNCED = "【全庁】12月1日(火) 9時から防災訓練を実施します。"
REVOKED = "この端末は利用停止されました。管理者に連絡してください"


async def enroll(page: Page, server: RunningServer) -> None:
    """Enroll SUZUKI's phone from the CLI's link (a virtual passkey), then the chat."""
    await add_platform_authenticator(page)
    await page.goto(await enrollment_link(server))
    await page.click("#enroll-button")
    await page.wait_for_url(page_url(server), timeout=WAIT_MS)
    await expect_connected_as(page, NAME)


async def open_row(page: Page, name: str) -> None:
    await page.locator("#channel-list button", has_text=name).first.click()
    await expect(page.locator("#channel-title")).to_have_text(name, timeout=WAIT_MS)


async def test_an_off_hours_refusal_is_said_in_japanese_not_an_empty_chat(
        make_server: ServerFactory, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    clock = ManualClock()
    clock.set(datetime(2026, 11, 25, 20, 0, tzinfo=TOKYO))     # a Wednesday, 20:00
    server = make_server(app_kwargs={"clock": clock}, off_hours_policy=True)
    page = await open_phone()
    # The phone's clock agrees with the server's (its DPoP proofs carry the time).
    await page.clock.set_system_time(clock.now())
    await page.goto(page_url(server))
    await expect(page.locator(f'#who option[value="{SUZUKI}"]')).to_be_attached(
        timeout=WAIT_MS)
    await page.select_option("#who", SUZUKI)
    await page.click("#signin-button")
    # Not an empty トーク screen saying 未接続: the sign-in screen, saying why.
    await expect(page.locator("#signin-error [lang=ja]")).to_contain_text(
        "勤務時間外", timeout=WAIT_MS)
    await expect(page.locator("#signin")).to_be_visible()
    await expect(page.locator("#chat")).to_be_hidden()
    await page.screenshot(path=artifacts_dir / "walkthrough-off-hours.png")


async def test_a_mention_is_seen_from_the_list_screen(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    suzuki, tanaka = await open_phone(), await open_phone()
    await sign_in(suzuki, server, SUZUKI, NAME)
    await sign_in(tanaka, server, TANAKA, "田中 美咲")
    await open_group(tanaka)
    await send(tanaka, "@鈴木 会場の件、確認お願いします")
    notice = suzuki.locator("#notice")
    await expect(notice).to_be_visible(timeout=WAIT_MS)
    await expect(notice).to_contain_text("田中 美咲さんがあなたをメンションしました")
    assert await notice.get_attribute("role") == "status"
    await suzuki.screenshot(path=artifacts_dir / "walkthrough-mention-notice.png")
    await suzuki.click("#notice-close")
    await expect(notice).to_be_hidden()


async def test_staff_see_the_announcement_channel_read_only(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    staff, manager = await open_phone(), await open_phone()
    await sign_in(staff, server, SUZUKI, NAME)
    await open_row(staff, ALL_STAFF)
    await expect(message(staff, ANNOUNCED)).to_be_visible(timeout=WAIT_MS)
    await expect(staff.locator("#composer")).to_be_hidden()
    await expect(staff.locator("#read-only-note")).to_have_text("このチャンネルは閲覧のみです")
    # 確認しました stays.
    await expect(message(staff, ANNOUNCED).locator("button.confirm")).to_be_visible()
    await staff.screenshot(path=artifacts_dir / "walkthrough-read-only.png")
    # Other channels keep their composer.
    await staff.click("#back-button")
    await open_row(staff, GROUP)
    await expect(staff.locator("#composer")).to_be_visible()
    await expect(staff.locator("#read-only-note")).to_be_hidden()

    await sign_in(manager, server, SATO, ROSTER[SATO].name)
    await open_row(manager, ALL_STAFF)
    await expect(manager.locator("#composer")).to_be_visible()
    await expect(manager.locator("#read-only-note")).to_be_hidden()


async def test_a_message_after_backing_out_of_a_chat_is_unread(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    suzuki, tanaka = await open_phone(), await open_phone()
    await sign_in(suzuki, server, SUZUKI, NAME)
    await sign_in(tanaka, server, TANAKA, "田中 美咲")
    await open_row(suzuki, "田中 美咲")              # the seeded direct chat
    await suzuki.click("#back-button")
    await expect(suzuki.locator("#view-chats")).to_be_visible()
    tab = suzuki.locator("#tab-unread")
    before = int(await tab.text_content() or 0) if await tab.is_visible() else 0
    await open_row(tanaka, NAME)
    await send(tanaka, "資料を送りました")
    row = suzuki.locator("#channel-list button", has_text="田中 美咲")
    await expect(row).to_contain_text("資料を送りました", timeout=WAIT_MS)
    await expect(row.locator(".unread")).to_have_text("1")
    await expect(tab).to_have_text(str(before + 1))
    await suzuki.screenshot(path=artifacts_dir / "walkthrough-unread-after-back.png")
    # Opening it again reads it.
    await open_row(suzuki, "田中 美咲")
    await expect(message(suzuki, "資料を送りました")).to_be_visible(timeout=WAIT_MS)
    await suzuki.click("#back-button")
    await expect(row.locator(".unread")).to_have_count(0)
    if before:
        await expect(tab).to_have_text(str(before))
    else:
        await expect(tab).to_be_hidden()


# A stand-in for the browser's push service: `subscribe` either fails as Chromium does
# without one, or hands out a subscription whose address the server will refuse.
PUSH_STAND_IN = """(mode) => {
  const fake = {current: null};
  window.__pushUnsubscribed = false;
  PushManager.prototype.getSubscription = async function () { return fake.current; };
  PushManager.prototype.subscribe = async function () {
    if (mode === 'no-service') {
      throw new DOMException('Registration failed - push service not available', 'AbortError');
    }
    fake.current = {
      endpoint: 'https://192.168.10.20/push/abc',
      toJSON() {
        return {endpoint: this.endpoint, keys: {
          p256dh: 'BP' + 'A'.repeat(85), auth: 'A'.repeat(22)}};
      },
      async unsubscribe() { fake.current = null; window.__pushUnsubscribed = true; return true; },
    };
    return fake.current;
  };
}"""


async def open_settings(page: Page) -> None:
    await page.click('.tabs button[data-view="settings"]')
    await expect(page.locator("#push-button")).to_be_visible(timeout=WAIT_MS)


@pytest.mark.parametrize(("mode", "reason", "says"), [
    ("refused", "refused", "サーバーがこのブラウザーの通知の送り先を受け付けませんでした"),
    ("no-service", "service", "通知サービスにつながりませんでした"),
])
async def test_push_that_cannot_be_turned_on_says_why(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path,
        mode: str, reason: str, says: str) -> None:
    page = await open_phone()
    await page.context.grant_permissions(["notifications"], origin=page_url(server).rstrip("/"))
    await page.add_init_script(f"({PUSH_STAND_IN})({mode!r})")
    await sign_in(page, server, SUZUKI, NAME)
    await open_settings(page)
    await expect(page.locator("#push-status")).to_have_text("通知はオフです")
    await page.click("#push-button")
    status = page.locator("#push-status")
    await expect(status).to_have_attribute("data-failure", reason, timeout=WAIT_MS)
    await expect(status).to_contain_text(says)
    await expect(page.locator("#push-button")).to_have_text("通知を受け取る")
    if mode == "refused":
        # The browser's own subscription is dropped too: push is not shown as on.
        assert await page.evaluate("() => window.__pushUnsubscribed") is True
        rows = sql(server, "SELECT count(*) FROM push_subscriptions")
        assert rows[0][0] == 0
    await page.screenshot(path=artifacts_dir / f"walkthrough-push-{reason}.png")


async def test_push_not_allowed_by_the_browser_says_what_to_do(
        server: RunningServer, open_phone: PhoneFactory) -> None:
    page = await open_phone()      # no notification permission granted
    await sign_in(page, server, SUZUKI, NAME)
    await open_settings(page)
    await page.click("#push-button")
    status = page.locator("#push-status")
    await expect(status).to_have_attribute("data-failure", "blocked", timeout=WAIT_MS)
    await expect(status).to_contain_text("「通知」を許可してから、もう一度押してください")


async def test_a_revoked_device_returns_to_a_clean_screen_without_passkey_sign_in(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    phone = await open_phone()
    await enroll(phone, server)
    await open_group(phone)                       # inside a conversation: ‹ in the header
    await expect(phone.locator("#back-button")).to_be_visible()
    device_id = sql(server, "SELECT id FROM devices WHERE revoked_at IS NULL")[0][0]
    result = await run_tsunagu(server, "device", "revoke", str(device_id), "--reason", "紛失届")
    assert result.returncode == 0, result.stderr

    await expect(phone.locator("#chat")).to_be_hidden(timeout=WAIT_MS)
    await expect(phone.locator("#back-button")).to_be_hidden()
    await expect(phone.locator("#app-title")).to_have_text("つなぐ")
    await expect(phone.locator("#device-revoked")).to_contain_text(REVOKED)
    await expect(phone.locator("#passkey-signin-button")).to_be_hidden()
    await phone.screenshot(path=artifacts_dir / "walkthrough-revoked.png")
    # Still so after a reload: the page remembers what the server said.
    await phone.reload()
    await expect(phone.locator("#device-revoked")).to_contain_text(REVOKED, timeout=WAIT_MS)
    await expect(phone.locator("#passkey-signin-button")).to_be_hidden()
    await expect(phone.locator("#chat")).to_be_hidden()


async def test_a_session_ended_inside_a_conversation_leaves_no_back_button(
        server: RunningServer, open_phone: PhoneFactory) -> None:
    phone = await open_phone()
    await enroll(phone, server)
    await open_group(phone)
    result = await run_tsunagu(server, "user", "disable", SUZUKI)
    assert result.returncode == 0, result.stderr
    await expect(phone.locator("#chat")).to_be_hidden(timeout=WAIT_MS)
    await expect(phone.locator("#back-button")).to_be_hidden()
    await expect(phone.locator("#app-title")).to_have_text("つなぐ")
    await expect(phone.locator("#passkey-panel")).to_be_visible()
    await expect(phone.locator("#device-revoked")).to_be_hidden()
