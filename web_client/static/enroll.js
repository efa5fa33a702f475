// The enrollment page (/enroll#code=...). The code rides in the fragment, so it never
// reaches a request line or a log; the page shows whom it enrolls, then on the tap
// creates the passkey and the device key, signs in, and replaces itself with "/" (so
// the one-time link leaves the history too).

import { getEnrollment } from "./device.js";
import { applyTranslations, setUpLanguageToggle, showError, t } from "./i18n.js";
import { enroll, enrollmentOptions, signIn } from "./session.js";

const $ = (id) => document.getElementById(id);

// Errors after which the code is spent: nothing on this page can succeed any more.
const CODE_ERRORS = new Set([
  "enrollment_code_missing", "enrollment_code_invalid", "enrollment_code_expired",
  "enrollment_code_used",
]);

const code = new URLSearchParams(location.hash.slice(1)).get("code");
let offer = null;         // the latest enrollmentOptions answer, unused so far
let offeredAt = 0;
let statusKey = null;
let previous = null;      // an enrollment this browser already holds

function setStatus(key) {
  statusKey = key;
  $("enroll-status").textContent = key ? t(key) : "";
}

function renderReplaces() {
  const note = $("enroll-replaces");
  note.hidden = !previous;
  note.textContent = previous ? t("enroll.replaces", { label: previous.label || "" }) : "";
}

async function fetchOffer() {
  offer = await enrollmentOptions(code);
  offeredAt = Date.now();
  return offer;
}

// A challenge is good for one ceremony and until the options' timeout: reuse the one
// shown on load only while it is young, so the tap goes straight to the passkey prompt.
function takeOffer() {
  const timeout = (offer && offer.publicKey && offer.publicKey.timeout) || 60000;
  const usable = offer && Date.now() - offeredAt < timeout / 2;
  const taken = usable ? offer : null;
  offer = null;
  return taken;
}

function fail(error) {
  setStatus(null);
  showError($("enroll-error"), error);
  if (CODE_ERRORS.has(error.code)) $("enroll-offer").hidden = true;
}

async function onEnroll(button) {
  button.disabled = true;
  showError($("enroll-error"), null);
  setStatus("enroll.enrolling");
  let enrolled = false;
  try {
    await enroll(code, { options: takeOffer() || await enrollmentOptions(code) });
    enrolled = true;
    setStatus("enroll.signing_in");
    await signIn();
    location.replace("/");
  } catch (error) {
    button.disabled = false;
    if (!enrolled) { fail(error); return; }
    // The device is enrolled; only the sign-in failed (e.g. outside working hours).
    $("enroll-offer").hidden = true;
    setStatus("enroll.enrolled_not_signed_in");
    showError($("enroll-error"), error);
  }
}

async function boot() {
  applyTranslations();
  setUpLanguageToggle($("lang-toggle"), () => { setStatus(statusKey); renderReplaces(); });
  $("enroll-button").addEventListener("click", (ev) => onEnroll(ev.currentTarget));
  if (!code) { fail({ code: "enrollment_code_missing" }); return; }
  previous = await getEnrollment().catch(() => null);
  try {
    await fetchOffer();
  } catch (error) {
    fail(error);
    return;
  }
  $("enroll-user").textContent = offer.user.name;
  $("enroll-staff-number").textContent = offer.user.staff_number;
  $("enroll-label").textContent = offer.label;
  renderReplaces();
  setStatus(null);
  $("enroll-offer").hidden = false;
}

boot().catch(fail);
