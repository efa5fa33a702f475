// The app's one place for notices and errors (#notice, at the top of every screen,
// signed in or not): a refusal, a failed action, "○○さんがあなたをメンションしました".
// Before it, errors went into a line inside the conversation view, which nobody saw
// from the list screens (issue 25). Text is in the person's language (i18n.js
// errorMessage); an error is announced at once (aria-live assertive) and stays until
// closed or replaced, an ordinary notice is announced politely and fades by itself.

import { errorMessage, t } from "../i18n.js";

const $ = (id) => document.getElementById(id);
const NOTICE_SHOWN_MS = 8000;

let timer = null;

/** Show `text` (a string) in the notice region; `error: true` marks it as an error. */
export function showNotice(text, { error = false } = {}) {
  const region = $("notice");
  if (!region) return;
  clearTimeout(timer);
  region.dataset.kind = error ? "error" : "info";
  region.setAttribute("aria-live", error ? "assertive" : "polite");
  $("notice-text").textContent = text;
  region.hidden = false;
  if (!error) timer = setTimeout(clearNotice, NOTICE_SHOWN_MS);
}

/** Show what went wrong (an ApiError, a ws error frame, any Error): never a raw code. */
export function showErrorNotice(error) {
  showNotice(errorMessage(error), { error: true });
}

export function clearNotice() {
  clearTimeout(timer);
  const region = $("notice");
  if (!region) return;
  region.hidden = true;
  $("notice-text").textContent = "";
}

export function setUp() {
  const close = $("notice-close");
  if (close) close.addEventListener("click", clearNotice);
}
