"""Browser fixtures: Debian's headless Chromium driven by Playwright (async API), one
phone-sized context per person, and the demo city served on SQLite.

Playwright's own browser downloads are never used (no ``playwright install``): the
system Chromium is launched by path. The async API, not the sync one: the sync API
keeps an event loop marked running on the main thread, which breaks every
pytest-asyncio fixture (the suite has an autouse one). What the tests share besides
fixtures (the bounded wait, ``page_factory``, sign-in and sending) is in
``tests/support/browser.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from tests.support.browser import PhoneFactory, page_factory

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def backend() -> str:
    """The page does not depend on the storage backend: one run, on SQLite."""
    return "sqlite"


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium (make system-deps)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def open_phone(browser: Browser) -> AsyncIterator[PhoneFactory]:
    """A phone-sized context per call (touch, Japanese, Tokyo time)."""
    async with page_factory(
            browser, viewport={"width": 390, "height": 844}, device_scale_factor=2,
            is_mobile=True, has_touch=True, locale="ja-JP",
            timezone_id="Asia/Tokyo") as factory:
        yield factory


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """Where screenshots go (git-ignored; kept for a human to look at)."""
    path = request.config.rootpath / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
