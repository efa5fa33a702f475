// UI strings, Japanese first. English follows the browser's language or the toggle.
// Static text lives in the templates in Japanese and carries data-i18n="key" (or
// data-i18n-placeholder); applyTranslations() swaps it.
// Errors inside the app (the notice region, status lines) are in the person's language
// only: Japanese (the server's message_ja, else our text for the code, else a Japanese
// generic line), English only for someone who chose English; a raw error code or an
// English server sentence never reaches a Japanese screen (errorMessage). The sign-in and
// enrollment screens show both languages, Japanese first, so whoever helps the person at
// the door can read them (showError).

import en from "./i18n/en.js";
import errors from "./i18n/errors.js";
import ja from "./i18n/ja.js";

const LANG_KEY = "tsunagu.lang";
const STRINGS = { ja, en };
const ERRORS = errors;

function initialLanguage() {
  const stored = localStorage.getItem(LANG_KEY);
  if (stored === "ja" || stored === "en") return stored;
  return (navigator.language || "ja").toLowerCase().startsWith("ja") ? "ja" : "en";
}

let lang = initialLanguage();

export function language() {
  return lang;
}

/** The string for `key` in the current language, with {name} placeholders filled. */
export function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.ja[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Rewrite every data-i18n / data-i18n-placeholder element under `root`. */
export function applyTranslations(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) {
    el.placeholder = t(el.dataset.i18nPlaceholder);
  }
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
}

/** Wire a button that switches language; `onChange` re-renders dynamic text. */
export function setUpLanguageToggle(button, onChange = () => {}) {
  button.addEventListener("click", () => {
    lang = lang === "ja" ? "en" : "ja";
    localStorage.setItem(LANG_KEY, lang);
    applyTranslations();
    onChange(lang);
  });
}

/** The error's code as our dictionary knows it (network failures and WebAuthn by name). */
function errorKey(error) {
  // fetch() fails with a TypeError when the network does; DOMException has legacy
  // numeric codes, so WebAuthn failures are known by name.
  if (error instanceof TypeError && /fetch|network|load failed/i.test(error.message)) return "network";
  if (typeof DOMException !== "undefined" && error instanceof DOMException) return error.name;
  return error && error.code;
}

/** What an error says, in the person's language only (see the top of this module). */
export function errorMessage(error) {
  const key = errorKey(error);
  const known = key && Object.hasOwn(ERRORS, key) ? ERRORS[key] : null;
  const serverJa = error && (error.messageJa || error.message_ja);
  if (lang === "ja") return serverJa || (known ? known[0] : t("error.generic"));
  if (serverJa && error.message) return error.message;    // the policy's own English
  return known ? known[1] : (error && error.message) || t("error.generic");
}

/** [Japanese, English] for an error, for the sign-in and enrollment screens. */
export function errorTexts(error) {
  const key = errorKey(error);
  const serverJa = error && (error.messageJa || error.message_ja);
  if (serverJa) return [serverJa, error.message || serverJa];
  if (key && Object.hasOwn(ERRORS, key)) return ERRORS[key];
  return [ja["error.generic"], (error && error.message) || en["error.generic"]];
}

/** Show an error in `el` in both languages (as text, never as HTML); null clears it. */
export function showError(el, error) {
  if (!error) { el.replaceChildren(); return; }
  const lines = errorTexts(error).map((text, i) => {
    const line = document.createElement("span");
    line.lang = i === 0 ? "ja" : "en";
    line.textContent = text;
    return line;
  });
  el.replaceChildren(...lines);
}
