// The main page: decide what this browser can do, then show the chat or a way in.
//   enrolled + a live session (GET /api/me answers)  -> the chat
//   enrolled, no session                             -> 「パスキーでサインイン」
//   enrolled, but the server said device_revoked     -> 「この端末は利用停止されました」, no
//                                                       passkey sign-in (enroll again)
//   not enrolled                                     -> ask for an enrollment link
// and, only when the server offers it (GET /dev/users answers 200), the clearly marked
// demo sign-in, whose session is bound to this browser's device key as well.

import { relabelChat, setUpChat, startChat, stopChat } from "./chat.js";
import { registerServiceWorker } from "./push.js";
import { showPushState } from "./views/settings.js";
import { getDeviceKey, getEnrollment, saveEnrollment } from "./device.js";
import { applyTranslations, setUpLanguageToggle, showError, t } from "./i18n.js";
import { clearNotice, setUp as setUpNotice, showErrorNotice } from "./views/notice_region.js";
import { roleLabel } from "./format.js";
import {
  ApiError, clearSession, demoSignIn, fetchMe, hasSession, refreshSession, signIn, signOut,
} from "./session.js";

const $ = (id) => document.getElementById(id);

// Slide the session's idle deadline when the person is actually using the page, at most
// this often (a page left open in a drawer lets the session lapse, as intended).
const REFRESH_EVERY_MS = 5 * 60 * 1000;
let lastRefresh = 0;
let statusKey = null;
let enrollment = null;

function setStatus(key) {
  statusKey = key;
  $("signin-status").textContent = key ? t(key) : "";
}

function setConnLabel() {
  const conn = $("conn");
  if (conn.dataset.state === "offline") conn.textContent = t("conn.offline");
}

function renderEnrollment() {
  $("enrolled-as").textContent = enrollment
    ? t("signin.enrolled_as", { name: enrollment.user ? enrollment.user.name : "", label: enrollment.label || "" })
    : "";
}

/** The signed-out screen for whatever this browser holds; `error` is shown if given. */
async function showSignedOut(error = null) {
  stopChat();
  clearNotice();
  if (error && error.code === "device_revoked") await markRevoked();
  const [keyPair, stored] = await Promise.all([getDeviceKey(), getEnrollment()]);
  enrollment = keyPair && stored ? stored : null;
  const revoked = Boolean(enrollment && enrollment.revokedAt);
  $("chat").hidden = true;
  $("signout-button").hidden = true;
  $("signin").hidden = false;
  $("passkey-panel").hidden = !enrollment || revoked;
  $("device-revoked").hidden = !revoked;
  $("not-enrolled").hidden = Boolean(enrollment);
  renderEnrollment();
  setStatus(null);
  // A revoked device's own panel says it all; anything else is said below it.
  showError($("signin-error"), revoked && error && error.code === "device_revoked" ? null : error);
}

/** The server said this device is revoked: remember it, so that no later visit offers a
 * passkey sign-in that can only fail (a new enrollment link replaces the record). */
async function markRevoked() {
  const stored = await getEnrollment();
  if (stored && !stored.revokedAt) await saveEnrollment({ ...stored, revokedAt: new Date().toISOString() });
}

function openChat() {
  showError($("signin-error"), null);
  setStatus(null);
  $("signin").hidden = true;
  $("chat").hidden = false;
  $("signout-button").hidden = false;
  lastRefresh = Date.now();
  showPushState().catch(() => {});
  startChat({ onSessionEnded, onOffHours, onAuthFailed }).catch((error) => {
    if (error instanceof ApiError && error.status === 401) onSessionEnded(null);
    // Refused by the off-hours policy (its reason in message_ja): the signed-out screen
    // says why, instead of an empty トーク screen.
    else if (error instanceof ApiError && error.status === 403 && error.messageJa) onOffHours(error);
    else showErrorNotice(error);
  });
}

// --- the chat gives way ---------------------------------------------------------------

function onSessionEnded(frame) {
  clearSession();
  showSignedOut(frame || { code: "unauthenticated" }).catch(console.error);
}

function onOffHours(frame) {
  // The session may well outlive the closed hours: keep it, say why.
  showSignedOut(frame || { code: "off_hours", message: "Outside working hours",
                           message_ja: "業務時間外です" }).catch(console.error);
}

function onAuthFailed(frame) {
  if (frame && frame.message_ja) { onOffHours(frame); return; }
  onSessionEnded(frame);
}

// --- ways in ----------------------------------------------------------------------------

async function run(button, statusWhileBusy, work) {
  button.disabled = true;
  showError($("signin-error"), null);
  setStatus(statusWhileBusy);
  try {
    await work();
    openChat();
  } catch (error) {
    setStatus(null);
    if (error && error.code === "device_revoked") await showSignedOut(error);
    else showError($("signin-error"), error);
  } finally {
    button.disabled = false;
  }
}

async function signOutHere() {
  stopChat();
  await signOut();
  await showSignedOut();
}

async function offerDemoSignIn() {
  const panel = $("demo-panel");
  if (!panel) return;
  let body;
  try {
    const response = await fetch("/dev/users", { cache: "no-store" });
    if (!response.ok) return;       // not offered to this client: no panel
    body = await response.json();
  } catch {
    return;
  }
  const select = $("who");
  select.replaceChildren();
  for (const u of body.users) {
    const opt = document.createElement("option");
    opt.value = u.staff_number;
    opt.textContent = `${u.name}（${u.department || "—"}・${roleLabel(u.role)}）`;
    select.append(opt);
  }
  $("signin-button").addEventListener("click", (ev) => {
    run(ev.currentTarget, "signin.in_progress", () => demoSignIn(select.value));
  });
  panel.hidden = false;
}

// --- the page ---------------------------------------------------------------------------

function noteActivity() {
  if ($("chat").hidden || !hasSession() || Date.now() - lastRefresh < REFRESH_EVERY_MS) return;
  lastRefresh = Date.now();
  // An ended session is reported by the websocket (close 4002); nothing to do here.
  refreshSession().catch(() => {});
}

async function boot() {
  sessionStorage.removeItem("tsunagu.token");     // the old unbound demo token, if any
  applyTranslations();
  setConnLabel();
  const relabel = () => {
    setStatus(statusKey);
    setConnLabel();
    renderEnrollment();
    relabelChat();
    showPushState().catch(() => {});
  };
  setUpLanguageToggle($("lang-toggle"), relabel);
  setUpLanguageToggle($("lang-toggle-2"), relabel);
  $("passkey-signin-button").addEventListener("click", (ev) => {
    run(ev.currentTarget, "signin.in_progress", signIn);
  });
  $("signout-button").addEventListener("click", () => signOutHere().catch(console.error));
  setUpNotice();
  setUpChat();
  registerServiceWorker();
  document.addEventListener("pointerdown", noteActivity, { passive: true });
  document.addEventListener("keydown", noteActivity);
  offerDemoSignIn();

  if (hasSession() && await getDeviceKey()) {
    try {
      await fetchMe();
      openChat();
      return;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) {
        await showSignedOut(error);     // e.g. off hours: keep the session, say why
        return;
      }
      clearSession();
    }
  }
  await showSignedOut();
}

boot().catch((error) => {
  setStatus(null);
  showError($("signin-error"), error);
});
