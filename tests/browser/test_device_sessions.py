"""Device-bound sessions on a phone: enroll from the CLI's one-time link (a passkey plus a
non-extractable device key kept in IndexedDB), chat, survive a reload with the same key,
sign out, and sign in again with the passkey. The session itself is an HttpOnly cookie the
page never reads; the page keeps only ath, the token's hash (docs/security.md)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from tests.support import RunningServer
from tests.support.browser import (
    LABEL,
    MINE,
    NAME,
    WAIT_MS,
    PhoneFactory,
    add_platform_authenticator,
    enrollment_link,
    expect_connected_as,
    expect_fits_the_phone,
    message,
    open_group,
    page_url,
    send,
)
from tests.support.people import SUZUKI

pytestmark = pytest.mark.browser

SESSION_COOKIE = "tsunagu_session"

# Evaluated in the page: the module the page itself uses, so the same IndexedDB record.
READ_PUBLIC_JWK = """async () => {
  const device = await import('/static/device.js');
  const keyPair = await device.getDeviceKey();
  return keyPair && device.publicJwk(keyPair);
}"""
TRY_TO_EXPORT_PRIVATE_KEY = """async () => {
  const device = await import('/static/device.js');
  const { privateKey } = await device.getDeviceKey();
  const outcomes = {extractable: privateKey.extractable};
  for (const format of ['pkcs8', 'jwk']) {
    try { await crypto.subtle.exportKey(format, privateKey); outcomes[format] = 'exported'; }
    catch (error) { outcomes[format] = error.name; }
  }
  return outcomes;
}"""


async def session_cookie(context: BrowserContext) -> dict[str, Any] | None:
    for cookie in await context.cookies():
        if cookie["name"] == SESSION_COOKIE:
            return dict(cookie)
    return None


def ath_of(token: str) -> str:
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def expect_bound_session(page: Page) -> None:
    """The token is an HttpOnly, SameSite=Strict cookie that scripts cannot read; the page
    holds only its hash."""
    cookie = await session_cookie(page.context)
    assert cookie is not None, "no session cookie"
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert SESSION_COOKIE not in await page.evaluate("() => document.cookie")
    stored = await page.evaluate("() => ({...localStorage, ...sessionStorage})")
    assert cookie["value"] not in stored.values(), "the session token is in web storage"
    assert stored.get("tsunagu.ath") == ath_of(cookie["value"])


async def expect_signed_out(page: Page) -> None:
    await expect(page.locator("#chat")).to_be_hidden(timeout=WAIT_MS)
    await expect(page.locator("#passkey-signin-button")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#enrolled-as")).to_contain_text(LABEL)
    await expect(page.locator("#signout-button")).to_be_hidden()


async def test_enroll_a_phone_chat_reload_sign_out_and_sign_in_with_the_passkey(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    page = await open_phone()
    cdp, authenticator_id = await add_platform_authenticator(page)
    link = await enrollment_link(server)

    # The link shows whom it enrolls before anything is created.
    await page.goto(link)
    await expect(page.locator("#enroll-user")).to_have_text(NAME, timeout=WAIT_MS)
    await expect(page.locator("#enroll-staff-number")).to_have_text(SUZUKI)
    await expect(page.locator("#enroll-label")).to_have_text(LABEL)
    await page.screenshot(path=artifacts_dir / "device-enroll-page.png")

    # One tap: passkey, device key, enrollment, sign-in, then the chat at "/".
    await page.click("#enroll-button")
    await page.wait_for_url(page_url(server), timeout=WAIT_MS)
    await expect_connected_as(page, NAME)
    await expect_bound_session(page)
    credentials = (await cdp.send("WebAuthn.getCredentials",
                                  {"authenticatorId": authenticator_id}))["credentials"]
    assert len(credentials) == 1
    assert credentials[0]["isResidentCredential"] is True
    assert credentials[0]["rpId"] == "localhost"

    await open_group(page)
    first = "端末を登録しました"
    await send(page, first)
    await expect(message(page, first)).to_have_class(MINE, timeout=WAIT_MS)
    await expect_fits_the_phone(page)
    await page.screenshot(path=artifacts_dir / "device-enrolled-chat.png")

    # A reload keeps the session and the very same device key, still non-extractable.
    jwk = await page.evaluate(READ_PUBLIC_JWK)
    assert set(jwk) == {"kty", "crv", "x", "y"} and jwk["crv"] == "P-256"
    await page.reload()
    await expect_connected_as(page, NAME)
    await open_group(page)
    await expect(message(page, first)).to_be_visible(timeout=WAIT_MS)
    assert await page.evaluate(READ_PUBLIC_JWK) == jwk
    assert await page.evaluate(TRY_TO_EXPORT_PRIVATE_KEY) == {
        "extractable": False, "pkcs8": "InvalidAccessError", "jwk": "InvalidAccessError"}
    await page.screenshot(path=artifacts_dir / "device-reloaded.png")

    # A second tab of the same phone shares the cookie, ath and key: signed in too.
    tab = await page.context.new_page()
    tab_errors: list[str] = []
    tab.on("pageerror", lambda exc: tab_errors.append(str(exc)))
    await tab.goto(page_url(server))
    await expect_connected_as(tab, NAME)

    # Sign out: the cookie and ath go, the enrollment stays, the passkey is offered.
    if await page.locator("#back-button").is_visible():     # from a conversation
        await page.click("#back-button")
    await page.click('.tabs button[data-view="settings"]')
    await page.click("#signout-button")
    await expect_signed_out(page)
    # The other tab's connection is closed with 4002: it says the session ended.
    await expect_signed_out(tab)
    await expect(tab.locator('#signin-error [lang="ja"]')).to_have_text(
        "セッションが終了しました。もう一度サインインしてください。", timeout=WAIT_MS)
    await tab.screenshot(path=artifacts_dir / "device-other-tab-session-ended.png")
    await tab.close()
    assert tab_errors == []
    assert await session_cookie(page.context) is None
    assert await page.evaluate("() => localStorage.getItem('tsunagu.ath')") is None
    await page.screenshot(path=artifacts_dir / "device-signed-out.png")

    # Sign in again with the passkey: same device key, a new session, chat again.
    await page.click("#passkey-signin-button")
    await expect_connected_as(page, NAME)
    await expect_bound_session(page)
    assert await page.evaluate(READ_PUBLIC_JWK) == jwk
    await open_group(page)
    again = "パスキーで再びサインインしました"
    await send(page, again)
    await expect(message(page, again)).to_have_class(MINE, timeout=WAIT_MS)
    await expect(message(page, first)).to_be_visible()
    await page.screenshot(path=artifacts_dir / "device-signed-in-again.png")

    # The link was good once: a second phone opening it is told so, in both languages.
    other = await open_phone()
    await other.goto(link)
    error = other.locator("#enroll-error")
    await expect(error.locator('[lang="ja"]')).to_contain_text("既に使われています",
                                                               timeout=WAIT_MS)
    await expect(error.locator('[lang="en"]')).to_contain_text("already been used")
    await expect(other.locator("#enroll-button")).to_be_hidden()
    await other.screenshot(path=artifacts_dir / "device-enroll-code-used.png")


@pytest.mark.parametrize(("fragment", "japanese", "english"), [
    ("#code=no-such-code", "無効です", "not valid"),
    ("", "コードがありません", "has no code"),
])
async def test_the_enrollment_page_explains_a_bad_link(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path,
        fragment: str, japanese: str, english: str) -> None:
    page = await open_phone()
    await page.goto(f"{page_url(server)}enroll{fragment}")
    error = page.locator("#enroll-error")
    await expect(error.locator('[lang="ja"]')).to_contain_text(japanese, timeout=WAIT_MS)
    await expect(error.locator('[lang="en"]')).to_contain_text(english)
    await expect(page.locator("#enroll-button")).to_be_hidden()
    name = "invalid" if fragment else "missing"
    await page.screenshot(path=artifacts_dir / f"device-enroll-code-{name}.png")


async def test_an_unenrolled_phone_is_told_to_ask_for_a_link(
        server: RunningServer, open_phone: PhoneFactory, artifacts_dir: Path) -> None:
    page = await open_phone()
    await page.goto(page_url(server))
    await expect(page.locator("#not-enrolled")).to_have_text(
        "この端末は登録されていません（管理者から登録用リンクを受け取ってください）",
        timeout=WAIT_MS)
    await expect(page.locator("#passkey-panel")).to_be_hidden()
    # This server is a development one, so the demo path is there, and says what it is.
    await expect(page.locator("#demo-panel")).to_contain_text(
        "デモ用サインイン（開発用・本番では無効）")
    await page.screenshot(path=artifacts_dir / "device-not-enrolled.png")

    # English on request, and it sticks across a reload.
    await page.click("#lang-toggle")
    await expect(page.locator("#not-enrolled")).to_have_text(
        "This device is not enrolled (ask an administrator for an enrollment link)")
    await page.reload()
    await expect(page.locator("#demo-panel")).to_contain_text("Demo sign-in (development only",
                                                              timeout=WAIT_MS)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
