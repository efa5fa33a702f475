"""What the browser tests share: the bounded wait, browser contexts that fail on page
errors, and the steps staff take on the chat page (demo sign-in, opening the seeded
group, sending, enrolling a phone with a passkey).

Imported as ``tests.support.browser`` and never re-exported from ``tests.support``: it
needs Playwright, which only the browser tests load. The fixtures that launch Chromium
stay in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from playwright.async_api import Browser, BrowserContext, CDPSession, Locator, Page, expect

from tests.support.people import ROSTER, SUZUKI
from tests.support.servers import RunningServer, run_tsunagu

# Every wait in a browser test is bounded by this (milliseconds).
WAIT_MS = 10_000

PhoneFactory = Callable[[], Awaitable[Page]]

# The demo group SUZUKI and TANAKA are both in, and its first seeded message.
GROUP = "忘年会幹事"
SEEDED = "会場の候補を3つ挙げました。ご意見ください。"
# The class the page puts on one's own messages.
MINE = re.compile(r"\bmine\b")

# Whom `enrollment_link` enrolls (SUZUKI), as the page shows her, and the device's label.
NAME = ROSTER[SUZUKI].name
LABEL = "防災係 テスト端末"


@asynccontextmanager
async def page_factory(browser: Browser, **options: Any) -> AsyncIterator[PhoneFactory]:
    """Open pages, each in a fresh context made with ``options`` (its own cookies and
    storage, like a second handset or PC). Uncaught page errors fail the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def factory() -> Page:
        context = await browser.new_context(**options)
        context.set_default_timeout(WAIT_MS)
        context.set_default_navigation_timeout(WAIT_MS)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield factory
    for context in contexts:
        await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def page_url(server: RunningServer) -> str:
    # localhost, not 127.0.0.1: the origin people type, and one the websocket accepts.
    return f"http://localhost:{server.port}/"


async def sign_in(page: Page, server: RunningServer, staff_number: str, name: str) -> None:
    await page.goto(page_url(server))
    await expect(page.locator(f'#who option[value="{staff_number}"]')).to_be_attached(
        timeout=WAIT_MS)
    await expect(page.locator("#chat")).to_be_hidden()
    await page.select_option("#who", staff_number)
    await page.click("#signin-button")
    await expect_connected_as(page, name)


async def expect_connected_as(page: Page, name: str) -> None:
    await expect(page.locator("#conn")).to_have_attribute("data-state", "online",
                                                          timeout=WAIT_MS)
    await expect(page.locator("#me")).to_have_text(name, timeout=WAIT_MS)
    await expect(page.locator("#signin")).to_be_hidden(timeout=WAIT_MS)


async def open_group(page: Page) -> None:
    await page.locator("#channel-list button", has_text=GROUP).click()
    await expect(page.locator("#channel-title")).to_have_text(GROUP, timeout=WAIT_MS)
    await expect(page.locator('#channel-list button[aria-current="true"]')).to_contain_text(
        GROUP, timeout=WAIT_MS)
    await expect(message(page, SEEDED)).to_be_visible(timeout=WAIT_MS)


async def expect_fits_the_phone(page: Page) -> None:
    """Nothing pushes the page sideways, and the composer (or, in a channel the person
    may not post in, the read-only line in its place) is on screen."""
    # Against the phone's width, not innerWidth: on a mobile viewport the layout
    # viewport grows to fit overflowing content.
    assert page.viewport_size is not None
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"
    await expect(page.locator("#composer:not([hidden]) button, #read-only-note:not([hidden])")
                 ).to_be_in_viewport(timeout=WAIT_MS)


def message(page: Page, text: str) -> Locator:
    """A delivered message (one with a seq), not the pending echo."""
    return page.locator("#messages li[data-seq]", has_text=text)


async def send(page: Page, text: str) -> None:
    await page.fill("#body", text)
    await page.press("#body", "Enter")
    await expect(page.locator("#body")).to_have_value("", timeout=WAIT_MS)


async def add_platform_authenticator(page: Page) -> tuple[CDPSession, str]:
    """A virtual passkey authenticator built into the phone (CDP WebAuthn domain): it
    holds discoverable credentials and verifies the user without a prompt."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    return cdp, added["authenticatorId"]


async def enrollment_link(server: RunningServer) -> str:
    """Run the real `tsunagu device enroll` for SUZUKI (``LABEL``) beside the server and
    take the link it prints (http://localhost:PORT/enroll#code=...)."""
    result = await run_tsunagu(server, "device", "enroll", SUZUKI, "--label", LABEL,
                               "--no-qr")
    assert result.returncode == 0, result.stderr
    found = re.search(rf"{re.escape(page_url(server))}enroll#code=\S+", result.stdout)
    assert found, f"no enrollment link in: {result.stdout}"
    return found.group(0)
