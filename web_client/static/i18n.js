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
    "disaster.banner_real": "災害モード：業務時間外も利用できます。指示を確認してください。",
    "disaster.banner_drill": "これは訓練です（実際の災害ではありません）",
    "disaster.heading": "災害・訓練を宣言", "disaster.name": "名称",
    "disaster.name_placeholder": "例：総合防災訓練、令和8年台風第10号",
    "disaster.drill": "訓練として宣言する", "disaster.next": "宣言の確認へ",
    "disaster.declare": "宣言する", "disaster.end": "終了", "disaster.cancel": "やめる",
    "disaster.none": "現在、宣言中の災害・訓練はありません。",
    "disaster.current": "宣言中：{title}",
    "disaster.confirm_drill": "【訓練】{name} を宣言します。全職員の端末に通知され、災害対策本部チャンネルが開きます。よろしいですか？",
    "disaster.confirm_real": "【訓練ではありません】災害「{name}」を宣言します。全職員の端末に緊急通知され、業務時間外の利用制限が解除されます。よろしいですか？",
    "disaster.confirm_end": "{title} を終了します。よろしいですか？",
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
    "broadcast.title": "緊急放送",
    "broadcast.drill": "【訓練】",
    "broadcast.meta": "{target}へ・{sender}",
    "broadcast.repeat": "（再通知{n}回目）",
    "broadcast.speak": "読み上げ",
    "broadcast.count": "確認 {n} / {total} 人",
    "broadcast.send_title": "緊急放送を送る",
    "broadcast.target": "宛先",
    "broadcast.members": "{n}人",
    "broadcast.text": "内容",
    "broadcast.note": "ミュート中の人にも届き、全画面・音・振動で知らせます。確認しない人には繰り返し通知します。",
    "broadcast.send": "緊急放送を送る",
    // Field reports (被害報告) and the HQ board (本部)
    "nav.report": "報告", "nav.board": "本部",
    "report.title": "被害報告", "report.category": "種類", "report.severity": "程度",
    "report.cat.flood": "浸水", "report.cat.landslide": "土砂崩れ", "report.cat.road": "道路",
    "report.cat.building": "建物", "report.cat.fire": "火災", "report.cat.injured": "負傷者",
    "report.cat.other": "その他",
    "report.sev.1": "軽微", "report.sev.2": "中程度", "report.sev.3": "深刻",
    "report.note": "ひとこと（200字まで）", "report.photos": "写真を撮る・選ぶ",
    "report.photo_count": "写真 {n}枚", "report.taken_at": "確認した時刻",
    "report.attach_position": "位置を添付", "report.locating": "位置を確認しています…",
    "report.position": "位置：{lat}, {lon}（誤差 約{acc}m）", "report.remove_position": "位置を外す",
    "report.position_failed": "位置を取得できませんでした（{why}）",
    "report.position_note": "位置は「位置を添付」を押したときだけ読み取り、本部にだけ届きます。",
    "report.send": "送信", "report.needs": "種類と程度を選んでください",
    "report.queued": "未送信 {n}件（電波が戻ると自動で送ります）", "report.sent": "送信しました",
    "report.failed": "送信できませんでした：{why}", "report.discard": "取り消す",
    "report.status.new": "新規", "report.status.acknowledged": "確認済",
    "report.status.in_progress": "対応中", "report.status.done": "完了",
    "report.status_by": "{status}（{name} {time}）", "report.by": "報告：{name} {time}",
    "report.no_position": "位置なし", "report.drill": "【訓練】",
    "board.title": "本部ボード", "board.all": "すべて", "board.empty": "報告はまだありません",
    "board.filter_category": "種類で絞り込み", "board.filter_severity": "程度で絞り込み",
    "board.filter_status": "状況で絞り込み", "board.map": "地図", "board.set_status": "状況を変更",
    "board.count": "{n}件",
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
    "disaster.banner_real": "Disaster mode: available outside working hours. Check your instructions.",
    "disaster.banner_drill": "This is a drill (not a real disaster)",
    "disaster.heading": "Declare a disaster or drill", "disaster.name": "Name",
    "disaster.name_placeholder": "e.g. Annual disaster drill, Typhoon No. 10",
    "disaster.drill": "Declare it as a drill", "disaster.next": "Review the declaration",
    "disaster.declare": "Declare", "disaster.end": "End", "disaster.cancel": "Cancel",
    "disaster.none": "No disaster or drill is declared.",
    "disaster.current": "Declared: {title}",
    "disaster.confirm_drill": "Declare the drill 【訓練】{name}? Every phone is notified and the HQ channel opens.",
    "disaster.confirm_real": "NOT a drill: declare the disaster \"{name}\"? Every phone gets an urgent notification and the off-hours limit is lifted.",
    "disaster.confirm_end": "End {title}?",
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
    "broadcast.title": "Urgent broadcast",
    "broadcast.drill": "[DRILL] ",
    "broadcast.meta": "To {target} · {sender}",
    "broadcast.repeat": "(reminder {n})",
    "broadcast.speak": "Read aloud",
    "broadcast.count": "Confirmed {n} / {total}",
    "broadcast.send_title": "Send an urgent broadcast",
    "broadcast.target": "To",
    "broadcast.members": "{n} people",
    "broadcast.text": "Message",
    "broadcast.note": "It reaches people who muted the channel, full screen with sound and vibration, and is repeated to whoever has not confirmed.",
    "broadcast.send": "Send the urgent broadcast",
    // Field reports and the HQ board
    "nav.report": "Report", "nav.board": "HQ",
    "report.title": "Field report", "report.category": "What", "report.severity": "How bad",
    "report.cat.flood": "Flooding", "report.cat.landslide": "Landslide", "report.cat.road": "Road",
    "report.cat.building": "Building", "report.cat.fire": "Fire", "report.cat.injured": "Injured",
    "report.cat.other": "Other",
    "report.sev.1": "Minor", "report.sev.2": "Moderate", "report.sev.3": "Severe",
    "report.note": "Short note (200 characters)", "report.photos": "Take or choose photos",
    "report.photo_count": "{n} photo(s)", "report.taken_at": "Seen at",
    "report.attach_position": "Attach position", "report.locating": "Reading the position…",
    "report.position": "Position: {lat}, {lon} (±{acc} m)", "report.remove_position": "Remove position",
    "report.position_failed": "Could not read the position ({why})",
    "report.position_note": "The position is read only when you tap “Attach position”, and only the HQ sees it.",
    "report.send": "Send", "report.needs": "Choose what and how bad",
    "report.queued": "{n} waiting (sent automatically when the signal returns)", "report.sent": "Sent",
    "report.failed": "Not sent: {why}", "report.discard": "Discard",
    "report.status.new": "New", "report.status.acknowledged": "Acknowledged",
    "report.status.in_progress": "In progress", "report.status.done": "Done",
    "report.status_by": "{status} ({name} {time})", "report.by": "Reported by {name} {time}",
    "report.no_position": "No position", "report.drill": "[DRILL] ",
    "board.title": "HQ board", "board.all": "All", "board.empty": "No reports yet",
    "board.filter_category": "Filter by what", "board.filter_severity": "Filter by how bad",
    "board.filter_status": "Filter by status", "board.map": "Map", "board.set_status": "Change status",
    "board.count": "{n}",
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
  crisis_only: ["災害・訓練の宣言と終了は危機管理担当と管理者だけができます。",
    "Only crisis management staff and admins declare or end a disaster or drill."],
  disaster_active: ["すでに災害または訓練が宣言されています。先に終了してください。",
    "A disaster or drill is already declared; end it first."],
  no_active_disaster: ["宣言中の災害・訓練はありません。", "No disaster or drill is declared."],
  no_active_disaster: ["災害・訓練は宣言されていません。報告は宣言中の本部に届きます。",
    "No disaster or drill is declared; reports go to the HQ of an active one."],
  hq_only: ["本部ボードは災害対策本部のメンバーだけが見られます。",
    "Only members of the disaster HQ see the HQ board."],
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
