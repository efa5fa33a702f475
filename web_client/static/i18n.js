// UI strings, Japanese first. English follows the browser's language or the toggle.
// Static text lives in the templates in Japanese and carries data-i18n="key" (or
// data-i18n-placeholder); applyTranslations() swaps it. Errors are always shown in both
// languages, Japanese first, so whoever helps the person can read them.

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

/**
 * [Japanese, English] for an error: the server's own message_ja when it sent one (the
 * off-hours policy says why), else our text for its code, else the raw message.
 */
export function errorTexts(error) {
  if (error && error.messageJa) return [error.messageJa, error.message];
  if (error && error.message_ja) return [error.message_ja, error.message];   // a ws error frame
  let key = error && error.code;
  // fetch() fails with a TypeError when the network does; DOMException has legacy
  // numeric codes, so WebAuthn failures are known by name.
  if (error instanceof TypeError && /fetch|network|load failed/i.test(error.message)) key = "network";
  else if (error instanceof DOMException) key = error.name;
  if (key && ERRORS[key]) return ERRORS[key];
  const message = (error && error.message) || String(error);
  return [`エラーが発生しました：${message}`, `Something went wrong: ${message}`];
}

/** Show an error in `el` in both languages (as text, never as HTML); null clears it. */
export function showError(el, error) {
  if (!error) { el.replaceChildren(); return; }
  const [ja, en] = errorTexts(error);
  const jaLine = document.createElement("span");
  jaLine.lang = "ja";
  jaLine.textContent = ja;
  const enLine = document.createElement("span");
  enLine.lang = "en";
  enLine.textContent = en;
  el.replaceChildren(jaLine, enLine);
}
