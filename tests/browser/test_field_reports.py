"""Field reports in the browser: a drill is declared; a field worker with a phone goes
offline, fills a report with a photo and the position (tapped to attach), comes back
online; the HQ board of an HQ member shows it once, at its position, live; a status set
on the board reaches the other HQ member."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import expect

from chat.actions.disaster import declare_disaster, set_hq_members
from chat.context import open_context
from tests.support import RunningServer, beside, sql
from tests.support.browser import WAIT_MS, PhoneFactory, sign_in
from tests.support.people import ITO, NAKAMURA, TANAKA


def field_photo(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (2400, 1600), (120, 100, 60)).save(path, "JPEG", quality=80)
    return path


async def test_an_offline_report_reaches_the_hq_board_once_at_its_position_live(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path,
        tmp_path: Path) -> None:
    async with open_context(beside(server.settings)) as ctx:
        await set_hq_members(ctx, [TANAKA, ITO], by="test")
        await declare_disaster(ctx, name="総合防災訓練", drill=True, by="test")
    field, hq, hq2 = await open_phone(), await open_phone(), await open_phone()
    refused: list[str] = []         # the map must work under the page's CSP
    for page in (field, hq, hq2):
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text else None)
    await field.context.grant_permissions(["geolocation"])
    await field.context.set_geolocation({"latitude": 35.6895, "longitude": 139.6917,
                                         "accuracy": 15})
    await sign_in(field, server, NAKAMURA, "中村 由美")
    await sign_in(hq, server, TANAKA, "田中 美咲")
    await sign_in(hq2, server, ITO, "伊藤 大輔")
    await expect(field.locator("#tab-board")).to_be_hidden()
    for page in (hq, hq2):
        await page.click("#tab-board")
        await expect(page.locator("#board-list")).to_contain_text("報告はまだありません")
        await expect(page.locator("#board-map .leaflet-container, #board-map.leaflet-container")
                     ).to_have_count(1, timeout=WAIT_MS)

    # In the field, no signal: the report waits on the phone.
    await field.click('.tabs button[data-view="report"]')
    await field.context.set_offline(True)
    await field.click('#report-categories button[data-value="flood"]')
    await field.click('#report-severities button[data-value="3"]')
    await field.fill("#report-note", "市道3号線が冠水、通行不可")
    await field.set_input_files("#report-photo-input", str(field_photo(tmp_path / "f.jpg")))
    await expect(field.locator("#report-photo-count")).to_have_text("写真 1枚")
    await field.click("#report-position-button")
    await expect(field.locator("#report-position")).to_contain_text("35.68950, 139.69170")
    await field.click("#report-send")
    await expect(field.locator("#report-waiting")).to_contain_text("未送信 1件")
    assert sql(server, "SELECT count(*) FROM field_reports") == [(0,)]
    await field.screenshot(path=artifacts_dir / "phone-report-offline.png")

    # The signal returns: sent once, and on the HQ board live, at its position.
    await field.context.set_offline(False)
    await expect(field.locator("#report-waiting")).to_have_text("", timeout=WAIT_MS)
    entry = hq.locator("#board-list .report-entry")
    await expect(entry).to_have_count(1, timeout=WAIT_MS)
    await expect(entry).to_contain_text("浸水・深刻")
    await expect(entry).to_contain_text("市道3号線が冠水、通行不可")
    await expect(entry.locator(".report-photos img")).to_have_attribute(
        "src", re.compile("^blob:"), timeout=WAIT_MS)
    marker = hq.locator("#board-map path.report-marker")
    await expect(marker).to_have_count(1, timeout=WAIT_MS)
    assert sql(server, "SELECT count(*), min(latitude_e6), min(longitude_e6) FROM "
                       "field_reports") == [(1, 35689500, 139691700)]
    viewed = sql(server, "SELECT count(*) FROM audit_events WHERE action = "
                         "'reports.positions_viewed'")
    assert viewed[0][0] >= 1
    await hq.screenshot(path=artifacts_dir / "phone-hq-board.png")

    # A status set on one HQ phone reaches the other.
    await entry.locator("button", has_text="対応中").click()
    other = hq2.locator("#board-list .report-entry")
    await expect(other).to_have_count(1, timeout=WAIT_MS)
    await expect(other.locator(".report-status")).to_contain_text("対応中（田中 美咲",
                                                                  timeout=WAIT_MS)
    assert refused == []
