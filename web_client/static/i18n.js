// UI strings, Japanese first. English follows the browser's language or the toggle.
// Static text lives in the templates in Japanese and carries data-i18n="key" (or
// data-i18n-placeholder); applyTranslations() swaps it. Errors are always shown in both
// languages, Japanese first, so whoever helps the person can read them.

const LANG_KEY = "tsunagu.lang";

const STRINGS = {
  ja: {
    "lang.toggle": "English",
    "conn.offline": "未接続",
    "conn.online": "接続中",
    "conn.reconnecting": "再接続中…",
    "signin.checking": "確認しています…",
    "signin.enrolled_as": "{name}さんの端末として登録済みです（{label}）",
    "signin.passkey": "パスキーでサインイン",
    "signin.in_progress": "サインインしています…",
    "signin.not_enrolled": "この端末は登録されていません（管理者から登録用リンクを受け取ってください）",
    "signin.ended": "セッションが終了しました。もう一度サインインしてください。",
    "signout": "サインアウト",
    "demo.title": "デモ用サインイン（開発用・本番では無効）",
    "demo.note": "ループバック限定の開発用サーバーでだけ使えます。",
    "demo.who": "職員を選択",
    "demo.signin": "サインイン",
    "demo.disabled": "このサーバーではデモ用サインインは無効です。",
    "chat.channels": "チャンネル",
    "chat.body": "メッセージ",
    "chat.placeholder": "メッセージを入力",
    "chat.send": "送信",
    "chat.sending": "（送信中）",
    "chat.deleted": "（削除されました）",
    "chat.purged": "（保存期間が過ぎたため削除されました）",
    "chat.edited": "（編集済）",
    "chat.read": "既読 {n}",
    "chat.unread": "未読 {n}",
    "chat.typing": "{name}さんが入力中…",
    "chat.someone": "誰か",
    "chat.system": "システム",
    "enroll.title": "端末の登録",
    "enroll.checking": "登録コードを確認しています…",
    "enroll.intro": "次の職員のパスキーとこの端末を登録します。",
    "enroll.user": "職員",
    "enroll.staff_number": "職員番号",
    "enroll.label": "端末名",
    "enroll.replaces": "この端末は既に登録されています（{label}）。登録し直すと置き換わります。",
    "enroll.button": "この端末を登録",
    "enroll.enrolling": "登録しています…",
    "enroll.signing_in": "登録しました。サインインしています…",
    "enroll.enrolled_not_signed_in": "登録は完了しました。トップページからサインインしてください。",
    "enroll.back": "トップページへ",
  },
  en: {
    "lang.toggle": "日本語",
    "conn.offline": "Offline",
    "conn.online": "Online",
    "conn.reconnecting": "Reconnecting…",
    "signin.checking": "Checking…",
    "signin.enrolled_as": "This device is enrolled for {name} ({label})",
    "signin.passkey": "Sign in with passkey",
    "signin.in_progress": "Signing in…",
    "signin.not_enrolled": "This device is not enrolled (ask an administrator for an enrollment link)",
    "signin.ended": "Your session has ended. Please sign in again.",
    "signout": "Sign out",
    "demo.title": "Demo sign-in (development only, disabled in production)",
    "demo.note": "Only on a development server bound to loopback.",
    "demo.who": "Sign in as",
    "demo.signin": "Sign in",
    "demo.disabled": "Demo sign-in is disabled on this server.",
    "chat.channels": "Channels",
    "chat.body": "Message",
    "chat.placeholder": "Type a message",
    "chat.send": "Send",
    "chat.sending": " (sending)",
    "chat.deleted": "(deleted)",
    "chat.purged": "(removed: retention period ended)",
    "chat.edited": "(edited)",
    "chat.read": "Read by {n}",
    "chat.unread": "{n} unread",
    "chat.typing": "{name} is typing…",
    "chat.someone": "Someone",
    "chat.system": "System",
    "enroll.title": "Enroll this device",
    "enroll.checking": "Checking the enrollment code…",
    "enroll.intro": "This enrolls a passkey and this device for:",
    "enroll.user": "Staff member",
    "enroll.staff_number": "Staff number",
    "enroll.label": "Device name",
    "enroll.replaces": "This device is already enrolled ({label}). Enrolling again replaces it.",
    "enroll.button": "Enroll this device",
    "enroll.enrolling": "Enrolling…",
    "enroll.signing_in": "Enrolled. Signing in…",
    "enroll.enrolled_not_signed_in": "Enrollment is complete. Sign in from the top page.",
    "enroll.back": "Top page",
  },
};

// Error codes (docs/security.md and local ones) -> [Japanese, English].
const ERRORS = {
  enrollment_code_missing: ["登録用リンクにコードがありません。リンク全体を開いてください。",
    "The enrollment link has no code. Open the whole link."],
  enrollment_code_invalid: ["この登録コードは無効です。管理者に新しい登録用リンクを依頼してください。",
    "This enrollment code is not valid. Ask an administrator for a new link."],
  enrollment_code_expired: ["この登録コードは有効期限が切れています。管理者に新しい登録用リンクを依頼してください。",
    "This enrollment code has expired. Ask an administrator for a new link."],
  enrollment_code_used: ["この登録コードは既に使われています。管理者に新しい登録用リンクを依頼してください。",
    "This enrollment code has already been used. Ask an administrator for a new link."],
  passkey_invalid: ["パスキーを確認できませんでした。もう一度お試しください。",
    "The passkey could not be verified. Please try again."],
  device_key_in_use: ["この端末の鍵は既に登録されています。もう一度お試しください。",
    "This device key is already enrolled. Please try again."],
  device_mismatch: ["このパスキーはこの端末に登録されたものではありません。",
    "This passkey was not enrolled on this device."],
  device_revoked: ["この端末の登録は取り消されました。管理者に再登録を依頼してください。",
    "This device was revoked. Ask an administrator to enroll it again."],
  account_disabled: ["このアカウントは無効です。管理者にお問い合わせください。",
    "This account is disabled. Contact an administrator."],
  not_enrolled: ["この端末は登録されていません（管理者から登録用リンクを受け取ってください）",
    "This device is not enrolled (ask an administrator for an enrollment link)."],
  unauthenticated: ["セッションが終了しました。もう一度サインインしてください。",
    "Your session has ended. Please sign in again."],
  invalid_dpop_proof: ["この端末の鍵による証明を確認できませんでした。もう一度サインインしてください。",
    "The proof from this device's key was refused. Please sign in again."],
  dev_sessions_disabled: ["このサーバーではデモ用サインインは無効です。",
    "Demo sign-in is disabled on this server."],
  NotAllowedError: ["パスキーの操作が取り消されたか、時間切れになりました。もう一度お試しください。",
    "The passkey request was cancelled or timed out. Please try again."],
  InvalidStateError: ["この認証器には既にこのアカウントのパスキーがあります。",
    "This authenticator already holds a passkey for this account."],
  SecurityError: ["この接続ではパスキーを使えません（https のページで開いてください）。",
    "Passkeys are not available on this connection (open the page over https)."],
  NotSupportedError: ["このブラウザーはパスキーに対応していません。",
    "This browser does not support passkeys."],
  network: ["サーバーに接続できません。通信状態を確かめてください。",
    "Cannot reach the server. Check the connection."],
};

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
