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
    "nav.back": "戻る", "nav.chats": "トーク", "nav.search": "検索", "nav.directory": "電話帳",
    "nav.settings": "設定", "nav.menu": "メニュー",
    "list.announcements": "全庁のお知らせ", "list.departments": "部署",
    "list.groups": "グループ", "list.direct": "個別・電話",
    "presence.online": "● オンライン", "presence.ringing": "☎ 着信中", "presence.on_call": "☎ 通話中",
    "day.today": "今日", "day.yesterday": "昨日",
    "chat.older": "以前のメッセージ", "chat.pins": "ピン留め", "chat.mute": "このトークの通知",
    "chat.reply_cancel": "返信をやめる", "chat.replying": "{name}さんへ返信：{text}",
    "chat.mentioned": "{name}さんがあなたをメンションしました",
    "send.queued": "未送信（オフライン）", "send.sending": "送信中…", "send.failed": "送信できませんでした",
    "send.retry": "再送", "pins.none": "ピン留めされたメッセージはありません",
    "act.title": "メッセージ", "act.reply": "返信", "act.react": "スタンプ", "act.copy": "コピー",
    "act.edit": "編集", "act.delete": "削除", "act.delete_confirm": "このメッセージを削除しますか？",
    "act.pin": "ピン留め", "act.unpin": "ピン留めを外す",
    "react.label": "{emoji} {n}人",
    "announce.confirm": "確認しました", "announce.readers": "既読・未読の一覧",
    "readers.confirmed": "確認済み", "readers.read": "既読", "readers.unread": "未読",
    "photo.attach": "写真を添付", "photo.share_location": "位置情報を付ける", "photo.send": "写真を送信",
    "photo.cancel": "やめる", "photo.uploading": "送信しています…", "photo.label": "📷 写真",
    "photo.alt": "送られた写真", "photo.failed": "写真を読み込めませんでした",
    "search.label": "メッセージを検索", "search.placeholder": "例：防災", "search.go": "検索",
    "search.searching": "検索しています…", "search.count": "{n}件見つかりました", "search.open": "開く",
    "directory.label": "名前・かな・内線で絞り込み", "directory.placeholder": "名前・かな・内線",
    "directory.ext": "内線 {ext}", "directory.call": "📞 電話", "directory.call_label": "{name}さん（内線 {ext}）に電話",
    "directory.message": "メッセージ",
    "memo.button": "伝言メモ", "memo.title": "{name}さんへの伝言メモ", "memo.caller": "お名前",
    "memo.company": "会社・団体", "memo.number": "電話番号", "memo.action": "用件",
    "memo.call_back": "折り返しお電話ください", "memo.will_call_again": "また掛け直します",
    "memo.message": "伝言があります", "memo.text": "伝言", "memo.send": "送る",
    "card.missed": "不在着信", "card.memo": "伝言メモ", "card.from_phone": "電話",
    "card.callback": "折り返す {who}", "card.claim": "私が対応します", "card.done": "対応済みにする",
    "card.claimed_by": "{name}さんが対応中", "card.done_by": "{name}さんが対応済み",
    "settings.me": "{name}（{role}）でサインイン中",
    "push.enable": "通知を受け取る", "push.disable": "通知を止める", "push.on": "この端末に通知が届きます",
    "push.off": "通知はオフです", "push.denied": "ブラウザーの設定で通知が拒否されています",
    "push.unsupported": "このブラウザーは通知に対応していません",
    "sheet.close": "閉じる", "act.save": "保存",
    "group.new": "＋ グループを作る", "group.title": "グループを作る", "group.name": "グループ名",
    "group.members": "メンバー", "group.create": "作成", "group.pick": "メンバーを1人以上選んでください",
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
    "rollcall.title": "安否確認", "rollcall.deadline": "{time}までに回答してください",
    "rollcall.loading": "読み込んでいます…", "rollcall.ended": "この安否確認は締め切られました",
    "rollcall.mine": "あなたの回答：{label}（{time}）", "rollcall.change": "回答を変更する",
    "rollcall.note": "ひとこと（任意）", "rollcall.attach_position": "📍 位置を添付",
    "rollcall.position_attached": "📍 位置を添付しました（誤差 約{m}m）",
    "rollcall.position_sent": "📍 位置を添付済み", "rollcall.no_position": "位置を取得できませんでした",
    "rollcall.status.safe": "無事", "rollcall.status.safe_cannot_come": "無事・出勤できない",
    "rollcall.status.injured": "負傷", "rollcall.status.can_come": "出勤可能",
    "rollcall.status.unanswered": "未回答",
    "rollcall.open_tally": "集計を見る", "rollcall.tally_title": "安否確認の集計",
    "rollcall.answered_of": "回答 {n}/{total}人", "rollcall.department": "所属",
    "rollcall.no_department": "所属なし", "rollcall.unanswered_list": "未回答者（{n}人）",
    "rollcall.remind": "未回答者に再通知", "rollcall.reminded": "{n}人に再通知しました（{time}）",
    "rollcall.csv": "CSVをダウンロード",
    "rollcall.start": "安否確認を開始", "rollcall.start_button": "全職員に送信する",
    "rollcall.default_text": "全職員は安否を回答してください。", "rollcall.within": "{n}分以内に回答",
    "rollcall.no_deadline": "期限なし",
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
    "nav.back": "Back", "nav.chats": "Chats", "nav.search": "Search", "nav.directory": "Directory",
    "nav.settings": "Settings", "nav.menu": "Menu",
    "list.announcements": "Announcements", "list.departments": "Departments",
    "list.groups": "Groups", "list.direct": "Direct and phone",
    "presence.online": "● online", "presence.ringing": "☎ ringing", "presence.on_call": "☎ on a call",
    "day.today": "Today", "day.yesterday": "Yesterday",
    "chat.older": "Earlier messages", "chat.pins": "Pinned", "chat.mute": "Notifications for this chat",
    "chat.reply_cancel": "Cancel reply", "chat.replying": "Replying to {name}: {text}",
    "chat.mentioned": "{name} mentioned you",
    "send.queued": "Not sent yet (offline)", "send.sending": "Sending…", "send.failed": "Could not send",
    "send.retry": "Retry", "pins.none": "No pinned messages",
    "act.title": "Message", "act.reply": "Reply", "act.react": "Stamp", "act.copy": "Copy",
    "act.edit": "Edit", "act.delete": "Delete", "act.delete_confirm": "Delete this message?",
    "act.pin": "Pin", "act.unpin": "Unpin",
    "react.label": "{emoji} from {n}",
    "announce.confirm": "Confirm", "announce.readers": "Who has read it",
    "readers.confirmed": "Confirmed", "readers.read": "Read", "readers.unread": "Not read yet",
    "photo.attach": "Attach a photo", "photo.share_location": "Share my location", "photo.send": "Send photo",
    "photo.cancel": "Cancel", "photo.uploading": "Sending…", "photo.label": "📷 Photo",
    "photo.alt": "A photo", "photo.failed": "The photo could not be loaded",
    "search.label": "Search messages", "search.placeholder": "e.g. 防災", "search.go": "Search",
    "search.searching": "Searching…", "search.count": "{n} found", "search.open": "Open",
    "directory.label": "Filter by name, kana or extension", "directory.placeholder": "Name, kana, extension",
    "directory.ext": "ext. {ext}", "directory.call": "📞 Call", "directory.call_label": "Call {name} (ext. {ext})",
    "directory.message": "Message",
    "memo.button": "Phone memo", "memo.title": "Phone memo for {name}", "memo.caller": "Caller",
    "memo.company": "Company", "memo.number": "Number", "memo.action": "Request",
    "memo.call_back": "Please call back", "memo.will_call_again": "Will call again",
    "memo.message": "Left a message", "memo.text": "Message", "memo.send": "Send",
    "card.missed": "Missed call", "card.memo": "Phone memo", "card.from_phone": "Phone",
    "card.callback": "Call back {who}", "card.claim": "I'll take it", "card.done": "Mark done",
    "card.claimed_by": "{name} is on it", "card.done_by": "Done by {name}",
    "settings.me": "Signed in as {name} ({role})",
    "push.enable": "Get notifications", "push.disable": "Stop notifications", "push.on": "Notifications reach this device",
    "push.off": "Notifications are off", "push.denied": "Notifications are blocked in the browser settings",
    "push.unsupported": "This browser does not support notifications",
    "sheet.close": "Close", "act.save": "Save",
    "group.new": "+ New group", "group.title": "New group", "group.name": "Group name",
    "group.members": "Members", "group.create": "Create", "group.pick": "Choose at least one member",
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
    "rollcall.title": "Safety roll call", "rollcall.deadline": "Please answer by {time}",
    "rollcall.loading": "Loading…", "rollcall.ended": "This roll call is closed",
    "rollcall.mine": "Your answer: {label} ({time})", "rollcall.change": "Change my answer",
    "rollcall.note": "A short note (optional)", "rollcall.attach_position": "📍 Attach my position",
    "rollcall.position_attached": "📍 Position attached (about {m} m)",
    "rollcall.position_sent": "📍 Position attached", "rollcall.no_position": "Could not get your position",
    "rollcall.status.safe": "Safe", "rollcall.status.safe_cannot_come": "Safe, cannot come to work",
    "rollcall.status.injured": "Injured", "rollcall.status.can_come": "Can come to work",
    "rollcall.status.unanswered": "Not answered",
    "rollcall.open_tally": "Open the tally", "rollcall.tally_title": "Roll call tally",
    "rollcall.answered_of": "Answered {n}/{total}", "rollcall.department": "Department",
    "rollcall.no_department": "No department", "rollcall.unanswered_list": "Not answered ({n})",
    "rollcall.remind": "Remind those who have not answered", "rollcall.reminded": "Reminded {n} people ({time})",
    "rollcall.csv": "Download CSV",
    "rollcall.start": "Start a safety roll call", "rollcall.start_button": "Send to all staff",
    "rollcall.default_text": "全職員は安否を回答してください。", "rollcall.within": "Answer within {n} min",
    "rollcall.no_deadline": "No deadline",
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
  hq_only: ["安否確認を開始・集計できるのは災害対策本部と危機管理担当だけです。",
    "Only the disaster HQ (and crisis management) runs roll calls."],
  rollcall_ended: ["この安否確認は締め切られました。", "This roll call is closed."],
  rollcall_not_found: ["この安否確認は見つかりません。", "No such roll call."],
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
