"""The smartphone client, as staff hold it: headless Chromium with phone emulation
(viewport, touch, geolocation, network conditions) drives real user stories against a
real server — enroll and sign in, read a department channel, 既読 rising when someone
else reads, messages typed offline delivered once on reconnect, a missed call arriving
as a card and claimed, presence beside names. Screenshots of the main screens go to
test-artifacts/ (not committed)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.integration.pbx_helpers import (
    OUTSIDE,
    SUZUKI_EXT,
    call_event,
    make_secret,
    post_event,
)
from tests.support import RunningServer, sql
from tests.support.browser import (
    MINE,
    NAME,
    WAIT_MS,
    PhoneFactory,
    add_platform_authenticator,
    enrollment_link,
    expect_connected_as,
    expect_fits_the_phone,
    message,
    page_url,
    send,
    sign_in,
)
from tests.support.people import SUZUKI, TANAKA

pytestmark = pytest.mark.browser

DEPARTMENT = "総務部"          # 鈴木 (庶務係) and 田中 (管財係) both sit under it


async def enroll_and_sign_in(page: Page, server: RunningServer) -> None:
    await add_platform_authenticator(page)
    await page.goto(await enrollment_link(server))
    await expect(page.locator("#enroll-user")).to_have_text(NAME, timeout=WAIT_MS)
    await page.click("#enroll-button")
    await page.wait_for_url(page_url(server), timeout=WAIT_MS)
    await expect_connected_as(page, NAME)


async def open_channel(page: Page, name: str) -> None:
    if await page.locator("#back-button").is_visible():
        await page.click("#back-button")
    await page.locator("#channel-list button", has_text=name).first.click()
    await expect(page.locator("#channel-title")).to_have_text(name, timeout=WAIT_MS)


async def go_to(page: Page, view: str) -> None:
    if await page.locator("#back-button").is_visible():
        await page.click("#back-button")
    await page.click(f'.tabs button[data-view="{view}"]')


async def test_read_a_department_channel_see_read_receipts_and_send_offline(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    suzuki, tanaka = await open_phone(), await open_phone()
    await enroll_and_sign_in(suzuki, server)
    await sign_in(tanaka, server, TANAKA, "田中 美咲")

    # Installable: a manifest, and a service worker controlling the whole app.
    manifest = await suzuki.evaluate(
        "() => fetch('/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
    scope = await suzuki.evaluate("() => navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == page_url(server)

    # The list follows the org chart: 部 before its 課 and 係, announcements first.
    headings = await suzuki.locator("#channel-list .group-heading").all_inner_texts()
    assert headings[:2] == ["全庁のお知らせ", "部署"]
    names = await suzuki.locator("#channel-list button .name").all_inner_texts()
    assert names.index("総務部") < names.index("総務課") < names.index("庶務係")
    await suzuki.screenshot(path=artifacts_dir / "phone-chats.png")

    await open_channel(suzuki, DEPARTMENT)
    notice = f"防災訓練の集合場所は正面玄関です {uuid.uuid4().hex[:6]}"
    await send(suzuki, notice)
    mine = message(suzuki, notice)
    await expect(mine).to_have_class(MINE, timeout=WAIT_MS)
    await expect(suzuki.locator("#messages li.day").first).to_have_text("今日")
    await expect(mine.locator(".read")).to_have_text("", timeout=WAIT_MS)

    # 田中 opens the channel: 鈴木 sees 既読 rise to 1, live.
    await open_channel(tanaka, DEPARTMENT)
    await expect(message(tanaka, notice)).to_be_visible(timeout=WAIT_MS)
    await expect(mine.locator(".read")).to_have_text("既読 1", timeout=WAIT_MS)
    await expect_fits_the_phone(suzuki)
    await suzuki.screenshot(path=artifacts_dir / "phone-conversation.png")

    # The network drops: what 鈴木 types waits, says so, and is not lost.
    await suzuki.context.set_offline(True)
    await expect(suzuki.locator("#conn")).to_have_attribute("data-state", "offline",
                                                            timeout=WAIT_MS)
    tag = uuid.uuid4().hex[:6]
    offline = [f"圏外で書いた一通目 {tag}", f"圏外で書いた二通目 {tag}"]
    for text in offline:
        await send(suzuki, text)
    queued = suzuki.locator("#messages li.pending")
    await expect(queued).to_have_count(2, timeout=WAIT_MS)
    await expect(queued.first.locator(".state")).to_have_text("未送信（オフライン）")
    await suzuki.screenshot(path=artifacts_dir / "phone-offline-queued.png")
    for text in offline:
        await expect(message(tanaka, text)).to_have_count(0)

    # Back online: both are delivered, once each, in the order typed.
    await suzuki.context.set_offline(False)
    await expect(suzuki.locator("#conn")).to_have_attribute("data-state", "online",
                                                            timeout=3 * WAIT_MS)
    for text in offline:
        await expect(message(suzuki, text)).to_have_count(1, timeout=WAIT_MS)
        await expect(message(tanaka, text)).to_have_count(1, timeout=WAIT_MS)
    await expect(queued).to_have_count(0)
    texts = await tanaka.locator("#messages li[data-seq] .body").all_inner_texts()
    assert texts.index(offline[0]) < texts.index(offline[1])
    for text in offline:
        assert sql(server, "SELECT count(*) FROM messages WHERE body = :b", b=text) == [(1,)]


async def test_a_missed_call_arrives_as_a_card_and_is_claimed(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    secret = make_secret(server)
    suzuki, tanaka = await open_phone(), await open_phone()
    await sign_in(suzuki, server, SUZUKI, "鈴木 花子")
    await sign_in(tanaka, server, TANAKA, "田中 美咲")

    # While 鈴木's extension rings, 田中 sees it beside her name in the directory.
    call_id = f"c-{uuid.uuid4().hex[:10]}"
    await go_to(tanaka, "directory")
    await tanaka.fill("#directory-input", "鈴木")
    entry = tanaka.locator("#directory-list li", has_text="鈴木 花子")
    await expect(entry.locator("a.call")).to_have_attribute("href", f"tel:{SUZUKI_EXT}")
    ringing = call_event("call.ringing", call_id, extension=SUZUKI_EXT, from_=OUTSIDE)
    assert (await post_event(server, secret, ringing)).status_code == 200
    await expect(entry.locator(".presence")).to_have_text("☎ 着信中", timeout=WAIT_MS)
    await tanaka.screenshot(path=artifacts_dir / "phone-directory-ringing.png")

    # Nobody answers: the call becomes a card in 鈴木's 「電話」 chat.
    missed = call_event("call.missed", call_id, extension=SUZUKI_EXT, from_=OUTSIDE,
                        reason="no_answer")
    assert (await post_event(server, secret, missed)).status_code == 200
    await expect(entry.locator(".presence")).to_have_text("● オンライン", timeout=WAIT_MS)
    phone = suzuki.locator("#channel-list button", has_text="電話")
    await expect(phone.locator(".unread")).to_have_text("1", timeout=WAIT_MS)
    await open_channel(suzuki, "電話")
    card = suzuki.locator("#messages li.card")
    await expect(card.locator(".card-title")).to_have_text("📞 不在着信", timeout=WAIT_MS)
    await expect(card.locator(".body")).to_contain_text("03-1234-5678")
    await expect(card.locator("a")).to_have_attribute("href", "tel:+81312345678")
    await suzuki.screenshot(path=artifacts_dir / "phone-missed-call-card.png")

    await card.get_by_role("button", name="私が対応します").click()
    await expect(card.locator(".claimed")).to_have_text("鈴木 花子さんが対応中", timeout=WAIT_MS)
    await expect(card.get_by_role("button", name="私が対応します")).to_have_count(0)
    await card.get_by_role("button", name="対応済みにする").click()
    await expect(card.locator(".claimed")).to_have_text("鈴木 花子さんが対応済み",
                                                        timeout=WAIT_MS)
    state = sql(server, "SELECT state FROM notices")
    assert state == [("done",)]


def site_photo(path: Path) -> Path:
    """A large camera-like JPEG with EXIF (camera model) that the server must strip."""
    from PIL import Image

    image = Image.new("RGB", (3000, 2000), (90, 140, 200))
    exif = Image.Exif()
    exif[0x0110] = "TestCam 9000"          # Model
    image.save(path, "JPEG", exif=exif.tobytes(), quality=80)
    return path


async def long_press(page: Page, target: str | object) -> None:
    locator = page.locator(target) if isinstance(target, str) else target
    await expect(locator).to_be_visible(timeout=WAIT_MS)  # type: ignore[arg-type]
    box = await locator.bounding_box()  # type: ignore[union-attr]
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.wait_for_timeout(700)
    await page.mouse.up()


async def test_a_site_photo_with_location_reactions_and_a_reply(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path,
        tmp_path: Path) -> None:
    suzuki, tanaka = await open_phone(), await open_phone()
    await suzuki.context.grant_permissions(["geolocation"])
    await suzuki.context.set_geolocation({"latitude": 35.6895, "longitude": 139.6917})
    await sign_in(suzuki, server, SUZUKI, "鈴木 花子")
    await sign_in(tanaka, server, TANAKA, "田中 美咲")
    await open_channel(suzuki, DEPARTMENT)
    await open_channel(tanaka, DEPARTMENT)

    # A photo from the "camera", with the phone's position shared.
    await suzuki.set_input_files("#photo-input", str(site_photo(tmp_path / "site.jpg")))
    await expect(suzuki.locator("#photo-bar")).to_be_visible()
    await suzuki.check("#share-location")
    await suzuki.fill("#body", "倉庫前の道路が冠水しています")
    await suzuki.click("#photo-send")
    for page in (suzuki, tanaka):
        sent = message(page, "倉庫前の道路が冠水しています")
        await expect(sent.locator("img.photo")).to_be_visible(timeout=WAIT_MS)
        await expect(sent.locator(".location")).to_have_text("📍 35.68950, 139.69170")
        await expect(sent.locator("img.photo")).to_have_attribute("src", re.compile("^blob:"),
                                                                  timeout=WAIT_MS)
        width = await sent.locator("img.photo").evaluate(
            "img => img.decode().then(() => img.naturalWidth)")
        assert 0 < width <= 400, width            # the thumbnail, not the 3000 px original
    rows = sql(server, "SELECT width, height FROM attachments")
    assert rows and max(rows[0]) <= 2048
    await tanaka.screenshot(path=artifacts_dir / "phone-photo.png")
    photo = message(tanaka, "倉庫前の道路が冠水しています")
    await photo.locator("img.photo").click()
    await expect(tanaka.locator("#viewer")).to_be_visible()
    await expect(tanaka.locator("#viewer-image")).to_have_attribute("src", re.compile("^blob:"),
                                                                     timeout=WAIT_MS)
    await tanaka.click("#viewer-close")

    # Long-press → スタンプ → 👍: both phones see it.
    await long_press(tanaka, photo)
    await expect(tanaka.locator("#sheet")).to_be_visible()
    await expect(tanaka.locator("#viewer")).to_be_hidden()    # the press was not a tap
    await tanaka.get_by_role("button", name="スタンプ").click()
    await tanaka.locator("#sheet-content").get_by_role("button", name="👍").click()
    for page in (suzuki, tanaka):
        await expect(message(page, "倉庫前の道路が冠水しています").locator(".reactions button")
                     ).to_have_text("👍 1", timeout=WAIT_MS)

    # Long-press → 返信: the reply quotes the photo message on both phones.
    await long_press(tanaka, photo)
    await tanaka.get_by_role("button", name="返信").click()
    await expect(tanaka.locator("#reply-bar")).to_be_visible()
    await send(tanaka, "了解、迂回路を案内します")
    for page in (suzuki, tanaka):
        reply = message(page, "了解、迂回路を案内します")
        await expect(reply.locator(".quote")).to_contain_text("倉庫前の道路が冠水しています",
                                                              timeout=WAIT_MS)
    await suzuki.screenshot(path=artifacts_dir / "phone-reply-and-stamp.png")

    # Twice the system font size still fits the phone (font scaling).
    await suzuki.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    await expect_fits_the_phone(suzuki)


async def test_a_group_made_on_the_phone_and_an_edit_seen_by_both(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    suzuki, tanaka = await open_phone(), await open_phone()
    dialogs: list[str] = []
    suzuki.on("dialog", lambda d: dialogs.append(d.message))
    await sign_in(suzuki, server, SUZUKI, "鈴木 花子")
    await sign_in(tanaka, server, TANAKA, "田中 美咲")

    group = f"防災訓練ワーキング {uuid.uuid4().hex[:4]}"
    await suzuki.click("#new-group")
    sheet = suzuki.locator("#sheet")
    await sheet.get_by_label("グループ名").fill(group)
    await sheet.get_by_role("searchbox").fill("田中")
    await sheet.get_by_role("checkbox", name="田中 美咲").check()
    await suzuki.screenshot(path=artifacts_dir / "phone-new-group.png")
    await sheet.get_by_role("button", name="作成").click()
    await expect(suzuki.locator("#channel-title")).to_have_text(group, timeout=WAIT_MS)
    await send(suzuki, "集合は9時です")

    # 田中 was added: the group appears on her phone, live, with the message.
    await expect(tanaka.locator("#channel-list button", has_text=group)).to_be_visible(
        timeout=WAIT_MS)
    await open_channel(tanaka, group)
    await expect(message(tanaka, "集合は9時です")).to_be_visible(timeout=WAIT_MS)

    # Long-press → 編集: the new text, marked (編集済), on both phones; no browser dialog.
    await long_press(suzuki, message(suzuki, "集合は9時です"))
    await suzuki.get_by_role("button", name="編集").click()
    await sheet.get_by_role("textbox").fill("集合は8時半です")
    await sheet.get_by_role("button", name="保存").click()
    for page in (suzuki, tanaka):
        edited = message(page, "集合は8時半です")
        await expect(edited).to_be_visible(timeout=WAIT_MS)
        await expect(edited.locator(".meta").first).to_contain_text("編集済")
    assert dialogs == []
