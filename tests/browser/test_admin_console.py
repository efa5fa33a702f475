"""The admin console on a PC, end to end in headless Chromium: pages fetched with DPoP
proofs by console.js and swapped into the shell; an admin revokes a phone while its user
is chatting and the phone is dropped; a staff CSV previewed, applied, and the person's
department channels follow; an auditor searches in Japanese, reads a message's revisions,
exports, downloads and checks every file against the manifest; and each role meets 403
on the other's pages."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from chat.actions.disaster import declare_disaster
from chat.context import open_context
from chat.store.uow import TxMode, unit_of_work
from tests.support import RunningServer, api, beside, dev_token, in_own_thread, run_tsunagu
from tests.support.browser import (
    WAIT_MS,
    PhoneFactory,
    add_platform_authenticator,
    expect_connected_as,
    page_factory,
    page_url,
    sign_in,
)
from tests.support.people import NAKAMURA, SUZUKI, TAKAHASHI, TANAKA, YAMADA, YOSHIDA

pytestmark = pytest.mark.browser

PcFactory = Callable[[], Awaitable[Page]]


@pytest.fixture
async def open_pc(browser: Browser) -> AsyncIterator[PcFactory]:
    """A desktop context (an office PC); uncaught page errors fail the test."""
    async with page_factory(browser, viewport={"width": 1280, "height": 900},
                            locale="ja-JP", timezone_id="Asia/Tokyo",
                            accept_downloads=True) as factory:
        yield factory


async def cli_enrollment_link(server: RunningServer, staff_number: str, label: str) -> str:
    result = await run_tsunagu(server, "device", "enroll", staff_number, "--label", label,
                               "--no-qr")
    assert result.returncode == 0, result.stderr
    found = re.search(rf"{re.escape(page_url(server))}enroll#code=\S+", result.stdout)
    assert found, result.stdout
    return found.group(0)


async def enroll(page: Page, server: RunningServer, link: str, name: str) -> None:
    """Open an enrollment link on ``page`` (with a virtual platform authenticator): the
    passkey, the device key, sign-in, then the chat at "/"."""
    await add_platform_authenticator(page)
    await page.goto(link)
    await page.click("#enroll-button")
    await page.wait_for_url(page_url(server), timeout=WAIT_MS)
    await expect_connected_as(page, name)


async def enrolled_pc(open_pc: PcFactory, server: RunningServer, staff_number: str,
                      name: str) -> Page:
    pc = await open_pc()
    await enroll(pc, server, await cli_enrollment_link(server, staff_number, "庁舎PC"), name)
    return pc


async def open_console(page: Page, server: RunningServer, path: str, heading: str) -> None:
    await page.goto(f"{page_url(server)}{path.lstrip('/')}")
    await expect(page.locator("#console h1")).to_contain_text(heading, timeout=WAIT_MS)


async def test_an_admin_revokes_a_phone_while_its_user_chats_and_the_phone_is_dropped(
        server: RunningServer, open_pc: PcFactory, open_phone: PhoneFactory,
        artifacts_dir: Path) -> None:
    pc = await enrolled_pc(open_pc, server, YAMADA, "山田 太郎")
    await open_console(pc, server, "/admin/devices", "端末")
    await pc.screenshot(path=artifacts_dir / "admin-devices.png")

    # The admin issues the phone's enrollment link from the console (link and QR code).
    await pc.click("details.enroll summary")
    await pc.fill("#enroll-form input[name=staff_number]", SUZUKI)
    await pc.fill("#enroll-form input[name=label]", "防災係 スマホ")
    await pc.click("#enroll-form button")
    link = (await pc.locator("#enrollment-link").text_content(timeout=WAIT_MS) or "").strip()
    assert link.startswith(f"{page_url(server)}enroll#code=")
    await expect(pc.locator("#enrollment-ticket img.qr")).to_be_visible()
    assert pc.url == f"{page_url(server)}admin/devices"

    phone = await open_phone()
    await enroll(phone, server, link, "鈴木 花子")

    # The phone's device shows one live session; revoking it needs a second click.
    await pc.click('#console a[href="/admin/devices"]')
    row = pc.locator(f'#devices-table tr[data-staff="{SUZUKI}"][data-state="active"]')
    await expect(row.locator("td.sessions")).to_have_text("1", timeout=WAIT_MS)
    await row.locator("summary").click()
    await row.locator("input[name=reason]").fill("紛失届")
    await pc.screenshot(path=artifacts_dir / "admin-revoke-confirm.png")
    await row.locator("button.danger").click()
    await expect(pc.locator(".notice")).to_have_text(
        "端末を取り消しました。終了したセッション: 1", timeout=WAIT_MS)
    revoked = pc.locator(f'#devices-table tr[data-staff="{SUZUKI}"]')
    await expect(revoked).to_have_attribute("data-state", "revoked")
    await expect(revoked.locator("td.sessions")).to_have_text("0")
    await pc.screenshot(path=artifacts_dir / "admin-revoked.png")

    # The phone is dropped at once and says why: this device is revoked (issue 25), so
    # no passkey sign-in is offered.
    await expect(phone.locator("#chat")).to_be_hidden(timeout=WAIT_MS)
    await expect(phone.locator("#device-revoked")).to_contain_text(
        "この端末は利用停止されました。管理者に連絡してください")
    await expect(phone.locator("#passkey-signin-button")).to_be_hidden()
    await phone.screenshot(path=artifacts_dir / "admin-revoked-phone.png")


async def test_an_admin_previews_and_applies_a_staff_csv_and_channels_follow(
        server: RunningServer, open_pc: PcFactory, artifacts_dir: Path) -> None:
    pc = await enrolled_pc(open_pc, server, YAMADA, "山田 太郎")
    await open_console(pc, server, f"/admin/staff/{SUZUKI}", "鈴木 花子")
    channels = pc.locator('#person-channels li[data-source="department"]')
    await expect(channels).to_have_count(3)
    await expect(pc.locator("#person-channels")).to_contain_text("庶務係")

    await pc.click('a[href="/admin/imports"]')
    await expect(pc.locator("#console h1")).to_have_text("CSV取り込み")
    await pc.fill("#staff-import textarea[name=csv]",
                  "staff_number,name,kana,department_code,role,extension,active\n"
                  "1002,鈴木 花子,すずき はなこ,121,staff,2101,1\n"
                  "1003,高橋 健,たかはし けん,112,staff,2102,1\n")
    await pc.click("#staff-import button")
    moved = pc.locator(f'#staff-preview tr[data-staff="{SUZUKI}"]')
    await expect(moved).to_have_attribute("data-kind", "moved", timeout=WAIT_MS)
    await expect(moved.locator("td.joins")).to_have_text("危機管理課、防災係")
    await expect(moved.locator("td.leaves")).to_have_text("庶務係、総務課")
    await expect(pc.locator(f'#staff-preview tr[data-staff="{TAKAHASHI}"]')).to_have_count(0)
    await pc.screenshot(path=artifacts_dir / "admin-import-preview.png")

    await pc.click("#staff-apply button")
    await expect(pc.locator(".notice")).to_contain_text("異動 1", timeout=WAIT_MS)
    await open_console(pc, server, f"/admin/staff/{SUZUKI}", "鈴木 花子")
    await expect(pc.locator("#person-department")).to_have_text("防災係")
    await expect(pc.locator("#person-channels")).to_contain_text("防災係")
    await expect(pc.locator("#person-channels")).not_to_contain_text("庶務係")
    await expect(channels).to_have_count(3)
    await pc.screenshot(path=artifacts_dir / "admin-import-applied.png")


def edit_seeded_message(server: RunningServer) -> None:
    """田中 edits her seeded message, so it has two revisions."""
    from chat.actions.message_edits import edit_message
    from chat.auth.sessions import Principal
    from chat.context import open_context

    async def run() -> None:
        async with open_context(beside(server.settings)) as ctx:
            async with unit_of_work(ctx.db, TxMode.READ) as uow:
                tanaka = await uow.users.by_staff_number(TANAKA)
                assert tanaka is not None
                message = await uow.messages.by_client_id(tanaka.id, "seed-2")
                assert message is not None
            actor = Principal(user_id=tanaka.id, session_id=0, role=tanaka.role,
                              name=tanaka.name, department_id=tanaka.department_id)
            await edit_message(ctx, actor=actor, message_id=message.id,
                               body="確認しました。防災倉庫の鍵の受け取りは私が行きます。")

    in_own_thread(lambda: asyncio.run(run()))


async def test_an_auditor_searches_reads_revisions_exports_and_checks_the_manifest(
        server: RunningServer, open_pc: PcFactory, artifacts_dir: Path) -> None:
    edit_seeded_message(server)
    pc = await enrolled_pc(open_pc, server, YOSHIDA, "吉田 修")
    await open_console(pc, server, "/admin/records/search", "メッセージ検索")
    await pc.fill("#search-form input[name=q]", "防災倉庫")
    # A reason is required, and the auditor is told who will see it (docs/audit.md).
    await expect(pc.locator("#transparency-note")).to_contain_text(
        "本人の「設定」画面に表示されます")
    await pc.fill("#search-form input[name=reason]", "鍵の受け渡し記録の確認")
    await pc.click("#search-form button")
    rows = pc.locator("#search-results tbody tr")
    await expect(rows).to_have_count(1, timeout=WAIT_MS)
    await expect(rows.first.locator("td.body")).to_have_text(
        "確認しました。防災倉庫の鍵の受け取りは私が行きます。")
    assert "q=%E9%98%B2%E7%81%BD%E5%80%89%E5%BA%AB" in pc.url
    await pc.screenshot(path=artifacts_dir / "admin-search.png")

    await rows.first.locator("a").click()
    revisions = pc.locator("#revisions tbody tr")
    await expect(revisions).to_have_count(2, timeout=WAIT_MS)
    await expect(revisions.nth(0).locator("td.body")).to_have_text(
        "確認しました。避難所の鍵の受け取りは私が行きます。")
    await expect(pc.locator("#message-state")).to_have_text("編集済み")
    await pc.screenshot(path=artifacts_dir / "admin-revisions.png")

    # Export everything with 防災 in it, watch it finish, download every file.
    await open_console(pc, server, "/admin/records/exports?q=防災", "エクスポート")
    await expect(pc.locator("#export-form input[name=q]")).to_have_value("防災")
    await pc.fill("#export-form input[name=reason]", "防災関連記録の開示請求への対応")
    await pc.click("#export-form button")
    status = pc.locator("#export-status")
    await expect(status).to_have_attribute("data-state", "done", timeout=WAIT_MS)
    assert re.search(r"/admin/records/exports/\d+$", pc.url)
    await pc.screenshot(path=artifacts_dir / "admin-export-done.png")

    files: dict[str, bytes] = {}
    links = pc.locator("#export-files a")
    await expect(links).to_have_count(3)
    for i in range(3):
        link = links.nth(i)
        async with pc.expect_download() as info:
            await link.click()
        download = await info.value
        name = (await link.get_attribute("data-download") or "").rsplit("-", 1)[-1]
        files[name] = await asyncio.to_thread(Path(await download.path()).read_bytes)
    manifest = json.loads(files["manifest.json"])
    assert manifest["counts"]["messages"] == 3
    for entry in manifest["files"]:
        assert hashlib.sha256(files[entry["name"]]).hexdigest() == entry["sha256"]
        shown = pc.locator(f'#manifest-files tr[data-file="{entry["name"]}"] code.sha256')
        await expect(shown).to_have_text(entry["sha256"])
    lines = files["messages.jsonl"].decode().splitlines()
    assert len(lines) == manifest["counts"]["messages"]
    assert any(len(json.loads(line)["revisions"]) == 2 for line in lines)


@pytest.mark.parametrize(("staff_number", "name", "path", "allowed_path"), [
    (SUZUKI, "鈴木 花子", "/admin/records/search", None),
    (YAMADA, "山田 太郎", "/admin/records/search", "/admin/devices"),
    (YOSHIDA, "吉田 修", "/admin/devices", "/admin/records/search"),
])
async def test_each_role_gets_403_on_the_others_pages(
        server: RunningServer, open_pc: PcFactory, artifacts_dir: Path, staff_number: str,
        name: str, path: str, allowed_path: str | None) -> None:
    pc = await open_pc()
    await sign_in(pc, server, staff_number, name)   # the demo sign-in, bound to the key
    await pc.goto(f"{page_url(server)}{path.lstrip('/')}")
    await expect(pc.locator("#console .error-summary")).to_have_text(
        "この画面・操作を行う権限がありません。", timeout=WAIT_MS)
    await expect(pc.locator("#console")).to_have_attribute("data-status", "403")
    await expect(pc.locator("#console [data-code]")).to_have_attribute("data-code",
                                                                        "role_required")
    await pc.screenshot(path=artifacts_dir / f"admin-403-{staff_number}.png")
    if allowed_path is not None:
        await pc.goto(f"{page_url(server)}{allowed_path.lstrip('/')}")
        await expect(pc.locator("#console")).to_have_attribute("data-status", "200",
                                                               timeout=WAIT_MS)
        # English on request, remembered.
        await pc.click("#console a.lang")
        await expect(pc.locator("html")).to_have_attribute("lang", "en", timeout=WAIT_MS)
        await expect(pc.locator("#console .who a.lang")).to_have_text("日本語")


async def test_an_admin_opens_the_field_reports_map_in_the_console_and_the_read_is_audited(
        server: RunningServer, open_pc: PcFactory, artifacts_dir: Path) -> None:
    async with open_context(beside(server.settings)) as ctx:
        await declare_disaster(ctx, name="総合防災訓練", drill=True, by="test")
    field = await dev_token(server, NAKAMURA)
    for note, where in (("市道3号線が冠水", {"lat": 35.6895, "lon": 139.6917, "accuracy_m": 12}),
                        ("位置なしの報告", None)):
        posted = await api(server, field, "POST", "/api/cards/report", json={
            "client_id": uuid.uuid4().hex, "category": "flood", "severity": 3, "note": note,
            "photo_ids": [], "position": where, "taken_at": "2026-12-07T01:02:03Z"})
        assert posted.status_code == 201, posted.text
    pc = await enrolled_pc(open_pc, server, YAMADA, "山田 太郎")
    refused: list[str] = []
    pc.on("console", lambda m: refused.append(m.text)
          if "Content Security Policy" in m.text else None)
    await open_console(pc, server, "/admin/reports", "被害報告")
    await expect(pc.locator("#reports-table tbody tr")).to_have_count(2)
    await expect(pc.locator("#console-hq-map")).to_have_count(0)   # no position read yet
    await pc.click('#console a[href="/admin/reports?map=1"]')
    box = pc.locator("#console-hq-map")
    await expect(box).to_have_attribute("data-markers", "1", timeout=WAIT_MS)
    await expect(box.locator(".report-marker")).to_have_count(1)
    await pc.screenshot(path=artifacts_dir / "admin-reports-map.png")
    assert refused == []
    async with open_context(beside(server.settings)) as ctx, \
            unit_of_work(ctx.db, TxMode.READ) as uow:
        viewed = await uow.audit.recent(action_prefix="reports.positions_viewed")
    assert viewed, "showing positions on the console's map is audited"
