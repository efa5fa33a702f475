"""Every string the console shows, Japanese first, English on request.

The language comes from ``?lang=ja|en`` (remembered in the ``tsunagu_lang`` cookie) and
defaults to Japanese. Templates call ``t("key")``; a missing key shows the key itself, so
it is noticed rather than hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from admin.audit_labels import ACTION_LABELS
from chat.domain.roles import ROLE_LABELS

LANG_COOKIE = "tsunagu_lang"
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"

# key: (Japanese, English)
STRINGS: dict[str, tuple[str, str]] = {
    # the shell and navigation
    "console.title": ("つなぐ 管理コンソール", "Tsunagu admin console"),
    "console.loading": ("読み込んでいます…", "Loading…"),
    "console.signin": ("パスキーでサインイン", "Sign in with your passkey"),
    "console.signin_needed": ("サインインしてください。", "Please sign in."),
    "console.not_enrolled": (
        "このパソコンは登録されていません（管理者から登録用リンクを受け取ってください）",
        "This PC is not enrolled (ask an administrator for an enrollment link)"),
    "console.network_error": ("サーバーに接続できません。", "Cannot reach the server."),
    "console.signed_in_as": ("{name}（{role}）", "{name} ({role})"),
    "nav.home": ("ホーム", "Home"),
    "nav.people": ("職員と組織", "People and org"),
    "nav.departments": ("組織図", "Departments"),
    "nav.staff": ("職員一覧", "Staff"),
    "nav.imports": ("CSV取り込み", "CSV imports"),
    "nav.devices": ("端末", "Devices"),
    "nav.records": ("記録", "Records"),
    "nav.search": ("メッセージ検索", "Message search"),
    "nav.exports": ("エクスポート", "Exports"),
    "nav.retention": ("保存期間", "Retention"),
    "nav.holds": ("訴訟ホールド", "Legal holds"),
    "nav.verify": ("監査ログの検証", "Audit log verification"),
    "nav.operations": ("運用", "Operations"),
    "nav.pbx_events": ("PBXイベント", "PBX events"),
    "nav.pbx_secrets": ("Webhookシークレット", "Webhook secrets"),
    "nav.pbx_directory": ("内線電話帳", "Extension directory"),
    "nav.policy": ("業務時間と災害モード", "Working hours and disaster mode"),
    "nav.health": ("稼働状況", "Health"),
    "lang.switch": ("English", "日本語"),
    # roles
    # roles: from chat.domain.roles.ROLE_LABELS (added below), one table for every screen
    # common
    "common.save": ("保存", "Save"),
    "common.apply": ("適用する", "Apply"),
    "common.preview": ("プレビュー", "Preview"),
    "common.search": ("検索", "Search"),
    "common.cancel": ("やめる", "Cancel"),
    "common.back": ("戻る", "Back"),
    "common.none": ("なし", "None"),
    "common.yes": ("はい", "Yes"),
    "common.no": ("いいえ", "No"),
    "common.all": ("すべて", "All"),
    "common.active": ("有効", "Active"),
    "common.inactive": ("無効", "Disabled"),
    "common.name": ("氏名", "Name"),
    "common.staff_number": ("職員番号", "Staff number"),
    "common.department": ("所属", "Department"),
    "common.role": ("役割", "Role"),
    "common.state": ("状態", "State"),
    "common.reason": ("理由", "Reason"),
    "common.created": ("作成", "Created"),
    "common.by": ("実行者", "By"),
    "common.when": ("日時", "When"),
    "common.done": ("完了しました。", "Done."),
    "common.more": ("次のページ", "Next page"),
    "common.refresh": ("更新", "Refresh"),
    # home
    "home.title": ("管理コンソール", "Admin console"),
    "home.admin": ("管理者として、職員・組織・端末・運用の設定を行えます。",
                   "As an administrator you manage people, the org chart, devices and "
                   "operations."),
    "home.auditor": ("監査担当者として、記録の検索・エクスポート・訴訟ホールド・監査ログの検証を"
                     "行えます。",
                     "As an auditor you search and export records, place legal holds and "
                     "verify the audit log."),
    # departments
    "departments.title": ("組織図", "Departments"),
    "departments.code": ("コード", "Code"),
    "departments.name": ("名称", "Name"),
    "departments.kana": ("かな", "Kana"),
    "departments.parent": ("上位組織", "Parent"),
    "departments.level": ("階層", "Level"),
    "departments.members": ("人数", "People"),
    "departments.edit": ("変更", "Edit"),
    "departments.new": ("組織を追加", "Add a department"),
    "departments.root": ("（最上位）", "(top level)"),
    "departments.saved": (
        "組織を保存しました。参加したメンバー {joined}、退出したメンバー {left}。",
        "Saved. Members joined: {joined}, left: {left}."),
    "level.bu": ("部", "Division"),
    "level.ka": ("課", "Section"),
    "level.kakari": ("係", "Unit"),
    # staff
    "staff.title": ("職員一覧", "Staff"),
    "staff.query": ("氏名・かな・番号・内線", "Name, kana, number, extension"),
    "staff.extension": ("内線", "Extension"),
    "staff.filter": ("絞り込む", "Filter"),
    "staff.count": ("{count} 人", "{count} people"),
    "staff.detail": ("職員の詳細", "Staff member"),
    "staff.change_role": ("役割を変更", "Change role"),
    "staff.role_changed": ("役割を変更しました。", "The role was changed."),
    "staff.role_same": ("役割は変わりません。", "The role is unchanged."),
    "staff.channels": ("参加しているチャンネル", "Channels"),
    "staff.source.department": ("組織", "org chart"),
    "staff.source.all_staff": ("全庁", "all staff"),
    "staff.source.manual": ("手動", "manual"),
    "staff.devices": ("端末", "Devices"),
    "staff.disable": ("アカウントを無効にする", "Disable the account"),
    "staff.enable": ("アカウントを有効にする", "Enable the account"),
    "staff.disable_confirm": ("無効にすると、この職員のすべてのセッションが直ちに終了します。",
                              "Disabling ends every session of this person at once."),
    "staff.disabled": ("アカウントを無効にしました。終了したセッション: {count}",
                       "The account was disabled. Sessions ended: {count}"),
    "staff.enabled": ("アカウントを有効にしました。", "The account was enabled."),
    # imports
    "imports.title": ("CSV取り込み", "CSV imports"),
    "imports.staff": ("職員CSV", "Staff CSV"),
    "imports.staff_help": ("列: staff_number,name,kana,department_code,role,extension,active",
                           "Columns: staff_number,name,kana,department_code,role,extension,"
                           "active"),
    "imports.directory": ("内線電話帳CSV", "Extension directory CSV"),
    "imports.directory_help": ("列: number,kind,target,name（kind は 職員/窓口/外線）",
                               "Columns: number,kind,target,name (kind: user, desk, contact)"),
    "imports.file": ("ファイル", "File"),
    "imports.text": ("または貼り付け", "or paste"),
    "imports.preview_title": ("取り込みのプレビュー（まだ何も変更していません）",
                              "Import preview (nothing has changed yet)"),
    "imports.problems": ("ファイルに問題があります。何も取り込んでいません。",
                         "The file has problems. Nothing was imported."),
    "imports.nothing": ("変更はありません。", "Nothing would change."),
    "imports.change": ("変更", "Change"),
    "imports.before": ("変更前", "Before"),
    "imports.after": ("変更後", "After"),
    "imports.joins": ("参加するチャンネル", "Joins"),
    "imports.leaves": ("退出するチャンネル", "Leaves"),
    "imports.kind.created": ("新規", "New"),
    "imports.kind.moved": ("異動", "Moved"),
    "imports.kind.deactivated": ("無効化", "Disabled"),
    "imports.kind.updated": ("更新", "Updated"),
    "imports.kind.unchanged": ("変更なし", "Unchanged"),
    "imports.kind.added": ("追加", "Added"),
    "imports.kind.removed": ("削除", "Removed"),
    "imports.unchanged_count": ("変更なし: {count} 件", "Unchanged: {count}"),
    "imports.applied_staff": (
        "取り込みました: 新規 {created}、異動 {moved}、更新 {updated}、無効化 {deactivated}、"
        "変更なし {unchanged}。チャンネル参加 {joined}、退出 {left}。",
        "Imported: {created} new, {moved} moved, {updated} updated, {deactivated} disabled, "
        "{unchanged} unchanged. Channel joins {joined}, leaves {left}."),
    "imports.applied_directory": (
        "取り込みました: 追加 {created}、更新 {updated}、削除 {removed}。",
        "Imported: {created} added, {updated} updated, "
        "{removed} removed."),
    "imports.number": ("番号", "Number"),
    "imports.kind": ("種別", "Kind"),
    "imports.target": ("対象", "Target"),
    # devices
    "devices.title": ("端末", "Devices"),
    "devices.label": ("端末名", "Label"),
    "devices.enrolled_at": ("登録日時", "Enrolled"),
    "devices.last_seen": ("最終利用", "Last seen"),
    "devices.sessions": ("有効なセッション", "Live sessions"),
    "devices.state.active": ("利用中", "Active"),
    "devices.state.revoked": ("取り消し済み", "Revoked"),
    "devices.revoke": ("取り消す", "Revoke"),
    "devices.revoke_confirm": (
        "この端末を取り消すと、すべてのセッションが直ちに終了し、再登録が必要になります。",
        "Revoking ends every session of this device at once; it must be "
        "enrolled again."),
    "devices.revoke_now": ("取り消しを確定", "Confirm revocation"),
    "devices.revoked": ("端末を取り消しました。終了したセッション: {count}",
                        "The device was revoked. Sessions ended: {count}"),
    "devices.enroll": ("端末を登録", "Enroll a device"),
    "devices.enroll_help": (
        "一度だけ使える登録用リンクを発行します。端末でリンクを開くか、QRコードを読み取ってくださ"
        "い。",
        "Issue a one-time enrollment link. Open it on the device, or scan "
        "the QR code."),
    "devices.enroll_issue": ("登録用リンクを発行", "Issue a link"),
    "devices.enroll_link": ("登録用リンク", "Enrollment link"),
    "devices.enroll_for": ("{name}（{staff_number}）の「{label}」用、有効期限 {expires}",
                           "For {name} ({staff_number}), device “{label}”, valid until "
                           "{expires}"),
    "devices.filter_staff": ("職員番号で絞り込む", "Filter by staff number"),
    # records
    "search.title": ("メッセージ検索（監査）", "Message search (audit)"),
    "search.words": ("語句", "Words"),
    "search.user": ("送信者の職員番号", "Sender's staff number"),
    "search.channel": ("チャンネルID", "Channel id"),
    "search.from": ("開始日", "From"),
    "search.to": ("終了日", "To"),
    "search.note": (
        "検索と閲覧はすべて監査ログに記録されます。",
        "Every search and view is recorded "
        "in the audit log."),
    "search.results": ("{count} 件", "{count} results"),
    "search.channel_col": ("チャンネル", "Channel"),
    "search.sender": ("送信者", "Sender"),
    "search.text": ("本文（最新の版）", "Text (latest revision)"),
    "search.revisions": ("版", "Revisions"),
    "search.history": ("履歴", "History"),
    "search.export": ("この条件でエクスポート", "Export with these filters"),
    "message.title": ("メッセージの全履歴", "Message history"),
    "message.revision": ("版", "Revision"),
    "message.action": ("操作", "Action"),
    "message.actor": ("操作者", "Actor"),
    "message.action.create": ("作成", "created"),
    "message.action.edit": ("編集", "edited"),
    "message.action.delete": ("削除", "deleted"),
    "message.state.live": ("通常", "live"),
    "message.state.edited": ("編集済み", "edited"),
    "message.state.deleted": ("削除済み", "deleted"),
    "message.state.purged": ("保存期間経過により削除", "purged by retention"),
    "exports.title": ("エクスポート", "Exports"),
    "exports.start": ("エクスポートを開始", "Start an export"),
    "exports.formats": ("形式", "Formats"),
    "exports.job": ("エクスポート #{id}", "Export #{id}"),
    "exports.state.running": ("実行中", "running"),
    "exports.state.done": ("完了", "done"),
    "exports.state.failed": ("失敗", "failed"),
    "exports.progress": ("{done} / {total} 件", "{done} of {total} messages"),
    "exports.files": ("ファイル", "Files"),
    "exports.manifest": ("マニフェスト", "Manifest"),
    "exports.rows": ("行数", "Rows"),
    "exports.bytes": ("バイト", "Bytes"),
    "exports.download": ("ダウンロード", "Download"),
    "exports.filters": ("条件", "Filters"),
    "exports.audit_head": ("監査ログの先頭", "Audit head"),
    "exports.none": ("まだエクスポートはありません。", "No exports yet."),
    "retention.title": ("保存期間", "Retention periods"),
    "retention.scope": ("対象", "Scope"),
    "retention.years": ("保存年数", "Years"),
    "retention.forever": ("永年保存", "Forever"),
    "retention.kind.department": ("組織チャンネル", "Department channels"),
    "retention.kind.group": ("グループ", "Group chats"),
    "retention.kind.direct": ("個別チャット", "Direct chats"),
    "retention.kind.announcement": ("全庁通知", "Announcements"),
    "retention.channel": ("チャンネル #{id}", "Channel #{id}"),
    "retention.set": ("保存期間を設定", "Set a period"),
    "retention.saved": ("保存期間を設定しました。", "The period was set."),
    "retention.none": ("保存期間の設定はありません（すべて永年保存）。",
                       "No periods are set (everything is kept forever)."),
    "holds.title": ("訴訟ホールド", "Legal holds"),
    "holds.place": ("ホールドを設定", "Place a hold"),
    "holds.release": ("解除", "Release"),
    "holds.placed": ("ホールドを設定しました。", "The hold was placed."),
    "holds.released": ("ホールドを解除しました。", "The hold was released."),
    "holds.scope": ("範囲", "Scope"),
    "holds.none": ("有効なホールドはありません。", "No active holds."),
    "holds.placed_by": ("設定者", "Placed by"),
    "verify.title": ("監査ログの検証", "Audit log verification"),
    "verify.start": ("検証を開始", "Verify now"),
    "verify.running": ("検証中… {done} / {total}", "Verifying… {done} of {total}"),
    "verify.ok": ("問題は見つかりませんでした。", "No problems found."),
    "verify.failed": ("問題が見つかりました。", "Problems were found."),
    "verify.error": (
        "検証を完了できませんでした: {error}",
        "Verification could not finish: {error}"),
    "verify.counts": ("エントリ {entries}、チェックポイント {checkpoints}、版 {revisions}",
                      "{entries} entries, {checkpoints} checkpoints, {revisions} revisions"),
    "verify.never": ("このノードではまだ検証していません。", "Not verified on this node yet."),
    "verify.checkpoint": ("最新の署名付きチェックポイント", "Last signed checkpoint"),
    "verify.no_checkpoint": (
        "署名付きチェックポイントはまだありません。",
        "No signed checkpoint yet."),
    "verify.head": ("現在のログの先頭", "Current head of the log"),
    "verify.seq": ("番号", "Entry"),
    "verify.signed_at": ("署名日時", "Signed at"),
    "verify.key": ("鍵ID", "Key id"),
    "verify.started_by": ("開始: {by}（{at}）", "Started by {by} at {at}"),
    # operations
    "pbx_events.title": ("PBXイベントログ", "PBX event log"),
    "pbx_events.accepted": ("受け付けたイベント", "Accepted events"),
    "pbx_events.rejected": (
        "拒否したリクエスト（このノード、直近）",
        "Refused requests (this node, recent)"),
    "pbx_events.none": ("ありません。", "None."),
    "pbx_events.type": ("種類", "Type"),
    "pbx_events.call": ("通話ID", "Call id"),
    "pbx_events.outcome": ("結果", "Outcome"),
    "pbx_events.source": ("送信元", "Source"),
    "pbx_events.secret": ("シークレット", "Secret"),
    "pbx_events.outcome.applied": ("反映", "applied"),
    "pbx_events.outcome.no_change": ("変化なし", "no change"),
    "pbx_events.outcome.ignored": ("未対応の種類", "ignored (unknown type)"),
    "pbx_secrets.title": ("Webhookシークレット", "Webhook secrets"),
    "pbx_secrets.name": ("名前", "Name"),
    "pbx_secrets.kind": ("種類", "Kind"),
    "pbx_secrets.value": ("Twilio Auth Token（twilio のみ）", "Twilio Auth Token (twilio only)"),
    "pbx_secrets.create": ("作成", "Create"),
    "pbx_secrets.rotate": ("ローテーション", "Rotate"),
    "pbx_secrets.rotate_help": (
        "新しいシークレットを追加します。PBXを切り替えた後で古いものを廃止してください。",
        "Adds a new secret; retire the old one once the PBX uses the "
        "new one."),
    "pbx_secrets.new_name": ("新しい名前", "New name"),
    "pbx_secrets.retire": ("廃止", "Retire"),
    "pbx_secrets.retired": ("廃止済み", "Retired"),
    "pbx_secrets.retired_done": ("シークレットを廃止しました。", "The secret was retired."),
    "pbx_secrets.created": (
        "シークレット「{name}」を作成しました。この値は二度と表示されません。PBXに設定してください"
        ":",
        "Secret “{name}” was created. This value is never shown again; "
        "set it in the PBX:"),
    "pbx_directory.title": ("内線電話帳", "Extension directory"),
    "policy.title": ("業務時間と災害モード", "Working hours and disaster mode"),
    "policy.hours": ("業務時間", "Working hours"),
    "policy.weekday": ("曜日", "Day"),
    "policy.open": ("開始", "Opens"),
    "policy.close": ("終了", "Closes"),
    "policy.closed": ("休業", "Closed"),
    "policy.holidays": ("休日（1行に1日、YYYY-MM-DD）", "Holidays (one YYYY-MM-DD per line)"),
    "policy.year_end": ("年末年始（12月29日〜1月3日）は休業", "Closed 29 Dec – 3 Jan"),
    "policy.saved": ("業務時間を保存しました。", "Working hours were saved."),
    "policy.disaster": ("災害モード", "Disaster mode"),
    "policy.disaster_on": ("災害モード中です。全職員が業務時間外も接続できます。",
                           "Disaster mode is on: everyone may connect at any hour."),
    "policy.disaster_off": ("災害モードは解除されています。", "Disaster mode is off."),
    "policy.disaster_declare": ("災害モードを宣言する", "Declare disaster mode"),
    "policy.disaster_lift": ("災害モードを解除する", "Lift disaster mode"),
    "policy.disaster_confirm": ("全職員の接続制限が変わります。", "This changes who may connect, "
                                "for everyone."),
    "policy.enforced": ("業務時間外の接続制限: {state}", "Off-hours policy: {state}"),
    "weekday.mon": ("月", "Mon"), "weekday.tue": ("火", "Tue"), "weekday.wed": ("水", "Wed"),
    "weekday.thu": ("木", "Thu"), "weekday.fri": ("金", "Fri"), "weekday.sat": ("土", "Sat"),
    "weekday.sun": ("日", "Sun"),
    "health.title": ("稼働状況", "Health"),
    "health.node": ("ノード", "Node"),
    "health.nodes_note": (
        "各ノードは10秒ごとに稼働を知らせます。30秒以上知らせのないノードは「応答なし」、"
        "10分以上は「停止」と表示し、24時間たつと一覧から消えます。正常に停止したノードはすぐ"
        "消えます。時刻は日本時間です。",
        "Every node reports every 10 seconds; one silent for 30 seconds is not responding, "
        "for 10 minutes stopped, and after 24 hours it leaves the list. A node shut down "
        "cleanly leaves at once. Times are Japan time."),
    "health.nodes": ("ノード一覧", "Nodes"),
    "health.last_seen": ("最終報告", "Last report"),
    "health.started": ("起動", "Started"),
    "health.this_node": ("（このノード）", "(this node)"),
    "health.stale": ("応答なし", "Not responding"),
    "health.stopped": ("停止", "Stopped"),
    "health.alive": ("稼働中", "Running"),
    "health.node_connections": ("接続数", "Connections"),
    "health.connections": ("接続数（このノード）", "Connections (this node)"),
    "health.users_online": ("接続中の職員（このノード）", "People online (this node)"),
    "health.database": ("データベース", "Database"),
    "health.bus": ("メッセージバス", "Bus"),
    "health.exports": ("実行中のエクスポート（このノード）", "Exports running (this node)"),
    "health.ok": ("正常", "OK"),
    "health.failed": ("異常", "Failed"),
    # errors
    "error.title": ("エラー", "Error"),
    "error.role_required": ("この画面・操作を行う権限がありません。",
                            "Your role may not open this page or do this."),
    # The HQ board (field reports) and the map's boundary file
    "nav.reports": ("被害報告（本部ボード）", "Field reports (HQ board)"),
    "reports.title": ("被害報告（本部ボード）", "Field reports (HQ board)"),
    "reports.category": ("種類", "What"),
    "reports.severity": ("程度", "How bad"),
    "reports.status": ("状況", "Status"),
    "reports.note": ("内容", "Note"),
    "reports.reporter": ("報告者・時刻", "Reported by, at"),
    "reports.photos": ("写真", "Photos"),
    "reports.position": ("位置", "Position"),
    "reports.has_position": ("あり", "Attached"),
    "reports.all": ("すべて", "All"),
    "reports.filter": ("絞り込む", "Filter"),
    "reports.set_status": ("変更", "Change"),
    "reports.none": ("報告はありません。", "No reports."),
    "reports.status_saved": ("状況を変更しました。", "Status changed."),
    "reports.no_disaster": (
        "災害・訓練はまだ宣言されていません。",
        "No disaster or drill has been declared."),
    "reports.map": ("被害報告の地図", "Map of the field reports"),
    "reports.show_map": ("地図で見る", "Show on the map"),
    "reports.hide_map": ("地図を閉じる", "Close the map"),
    "reports.map_audited": ("（位置を表示すると、誰がいつ見たかが記録されます）",
                            "(Showing positions is recorded: who looked, and when.)"),
    "reports.boundary": ("地図の境界・目標物（GeoJSON）", "Map boundary and landmarks (GeoJSON)"),
    "reports.boundary_current": ("登録済み：{n}件の地物。", "Uploaded: {n} features."),
    "reports.boundary_none": (
        "未登録（座標グリッドのみ表示）。",
        "None (the coordinate grid only)."),
    "reports.tile_url": ("タイル：{url}", "Tiles: {url}"),
    "reports.no_tiles": (
        "タイルなし（CHAT_MAP_TILE_URL で庁内GISを指定できます）。",
        "No tiles (set CHAT_MAP_TILE_URL to the city's own GIS)."),
    "reports.boundary_file": ("GeoJSON ファイル（2MBまで）", "GeoJSON file (up to 2 MB)"),
    "reports.boundary_upload": ("登録する", "Upload"),
    "reports.boundary_remove": ("境界ファイルを削除", "Remove the boundary file"),
    "reports.boundary_missing": ("ファイルを選んでください。", "Choose a file."),
    "reports.boundary_saved": (
        "境界ファイルを登録しました（{n}件の地物）。",
        "Boundary saved ({n} features)."),
    "reports.cat.flood": ("浸水", "Flooding"),
    "reports.cat.landslide": ("土砂崩れ", "Landslide"),
    "reports.cat.road": ("道路", "Road"),
    "reports.cat.building": ("建物", "Building"),
    "reports.cat.fire": ("火災", "Fire"),
    "reports.cat.injured": ("負傷者", "Injured"),
    "reports.cat.other": ("その他", "Other"),
    "reports.sev.1": ("軽微", "Minor"),
    "reports.sev.2": ("中程度", "Moderate"),
    "reports.sev.3": ("深刻", "Severe"),
    "reports.status.new": ("新規", "New"),
    "reports.status.acknowledged": ("確認済", "Acknowledged"),
    "reports.status.in_progress": ("対応中", "In progress"),
    "reports.status.done": ("完了", "Done"),
    "error.csrf_failed": (
        "フォームの有効期限が切れたか、不正な送信です。ページを開き直してください。",
        "The form expired or was not sent by this console. Reload the page."),
    "error.not_found": ("見つかりません。", "Not found."),
    "error.bad_request": ("入力に誤りがあります。", "Please check what you entered."),
    "error.unauthenticated": ("サインインが必要です。", "Please sign in."),
    "error.other": ("処理できませんでした。", "This could not be done."),
    # disaster mode (災害・訓練): admin/disaster.py
    "nav.disaster_group": ("災害対応", "Disaster response"),
    "nav.disaster": ("災害モード", "Disaster mode"),
    "home.crisis": ("災害・訓練の宣言と終了、災害対策本部のメンバー設定は"
                    "「災害モード」から行えます。",
                    "Declare and end a disaster or drill, and set the HQ members, under "
                    "Disaster mode."),
    "disaster.title": ("災害モード（災害・訓練の宣言）", "Disaster mode (disasters and drills)"),
    "disaster.none": ("現在、宣言中の災害・訓練はありません。",
                      "No disaster or drill is declared."),
    "disaster.active_real": ("災害を宣言中です：{title}", "A disaster is declared: {title}"),
    "disaster.active_drill": ("訓練を宣言中です：{title}", "A drill is declared: {title}"),
    "disaster.declared_at": ("宣言：{at}（{by}）", "Declared {at} by {by}"),
    "disaster.declare": ("災害・訓練を宣言", "Declare a disaster or drill"),
    "disaster.name": ("名称（例：総合防災訓練、令和8年台風第10号）",
                      "Name (e.g. annual drill, Typhoon No. 10)"),
    "disaster.drill": ("訓練として宣言する", "Declare it as a drill"),
    "disaster.effects": (
        "宣言すると、災害対策本部チャンネルが設定済みのメンバーで開き、業務時間外の接続制限が解除され、"
        "全端末にバナーと通知が届きます。訓練は「【訓練】」と明示されます。",
        "Declaring opens the HQ channel with its configured members, lifts the off-hours "
        "limit, and shows a banner and a push on every phone. A drill says 【訓練】 plainly."),
    "disaster.declare_button": ("宣言する", "Declare"),
    "disaster.end": ("終了", "End"),
    "disaster.end_confirm": ("終了すると業務時間外の接続制限が戻ります。"
                             "災害対策本部チャンネルと記録は残ります。",
                             "Ending restores the off-hours limit; the HQ channel and the "
                             "records stay."),
    "disaster.declared_done": ("宣言しました：{title}", "Declared: {title}"),
    "disaster.ended_done": ("終了しました：{title}", "Ended: {title}"),
    "disaster.hq": ("災害対策本部のメンバー", "HQ members"),
    "disaster.hq_note": (
        "宣言時に災害対策本部チャンネルへ参加する職員の職員番号（空白・改行・カンマ区切り）。"
        "危機管理担当の職員は自動で参加します。",
        "Staff numbers of those who join the HQ channel on a declaration (separated by "
        "spaces, lines or commas). Everyone with the crisis role joins as well."),
    "disaster.hq_saved": ("災害対策本部のメンバーを保存しました（{n}名）。",
                          "HQ members saved ({n})."),
    "disaster.history": ("これまでの宣言", "History"),
    "disaster.kind": ("種別", "Kind"),
    "disaster.kind_drill": ("訓練", "Drill"),
    "disaster.kind_real": ("災害", "Disaster"),
    "disaster.declared": ("宣言", "Declared"),
    "disaster.ended_at": ("終了", "Ended"),
    "disaster.low_level": ("災害モードの宣言は「災害モード」ページから行ってください。"
                           "ここでの切り替えは業務時間外の制限だけを変える低レベルのスイッチです。",
                           "Declare disasters on the Disaster mode page; this switch only "
                           "changes the off-hours limit (a low-level switch)."),
    # Transparency (docs/audit.md): the auditor's reason, and what staff see.
    "records.reason": ("閲覧の理由（必須・3〜500文字）",
                       "Reason for this access (required, 3–500 characters)"),
    "records.reason_placeholder": ("例：情報公開請求（令和8年第12号）への対応",
                                   "e.g. responding to disclosure request No. 12"),
    "records.transparency": (
        "メッセージを閲覧・書き出しされた職員には、その日時・チャンネル・ここに入力した理由が"
        "本人の「設定」画面に表示されます（秘匿扱いの訴訟ホールドが及ぶ間を除く）。",
        "The staff whose messages you read or export will see the time, the channel and "
        "the reason you give here in their Settings (except while a confidential legal "
        "hold covers them)."),
    "holds.confidential": ("秘匿扱い（解除まで、対象の職員に閲覧記録を表示しない）",
                           "Confidential (until released, the staff covered are not shown "
                           "auditors' reads)"),
    "holds.confidential_help": (
        "通常、職員は自分のメッセージが監査で閲覧された記録を見られます。秘匿扱いのホールドが"
        "及ぶメッセージの閲覧記録は、ホールドの解除まで本人に表示されません。",
        "Staff normally see when their messages were read by an auditor. Reads of messages "
        "a confidential hold covers are hidden from them until the hold is released."),
    "holds.confidential_mark": ("（秘匿）", "(confidential)"),
    "nav.audit_log": ("監査ログ", "Audit log"),
    "audit_log.title": ("監査ログ", "Audit log"),
    "audit_log.note": ("記録の検索・書き出し、サインイン、端末の失効、設定の変更などの記録です。"
                       "この画面の閲覧も記録されます。",
                       "Reads and exports of records, sign-ins, revocations, policy changes "
                       "and more. Viewing this page is recorded too."),
    "audit_log.action": ("操作（名前、または session. のような前方一致）",
                         "Action (a name, or a prefix such as session.)"),
    "audit_log.actor": ("操作した職員（職員番号）", "Actor (staff number)"),
    "audit_log.subject": ("対象の職員（職員番号）", "Subject (staff number)"),
    "audit_log.from": ("開始日（日本時間）", "From (Japan time)"),
    "audit_log.to": ("終了日（日本時間、当日を含む）", "To (Japan time, inclusive)"),
    "audit_log.outcome": ("結果", "Outcome"),
    "audit_log.any": ("すべて", "Any"),
    "audit_log.outcome.ok": ("成功", "OK"),
    "audit_log.outcome.refused": ("拒否", "Refused"),
    "audit_log.outcome.failed": ("失敗", "Failed"),
    "audit_log.outcome.ignored": ("無視", "Ignored"),
    "audit_log.count": ("{count}件", "{count} entries"),
    "audit_log.none": ("該当する記録はありません。", "No entries match."),
    "audit_log.col_seq": ("番号", "Seq"),
    "audit_log.col_action": ("操作", "Action"),
    "audit_log.col_actor": ("操作した人", "Actor"),
    "audit_log.col_subject": ("対象", "Subject"),
    "audit_log.col_detail": ("詳細", "Detail"),
    "audit_log.cli": ("コマンドライン", "Command line"),
    "audit_log.older": ("さらに古い記録", "Older entries"),
    # issue 25: the directory's kinds, refusals said in the reader's language
    "directory_kind.user": ("職員の内線", "Staff extension"),
    "directory_kind.desk": ("窓口・係の共有電話", "Shared desk phone"),
    "directory_kind.contact": ("外部の連絡先", "Outside contact"),
    "pbx_directory.user": ("職員 #{id}", "Staff #{id}"),
    "error.role_detail": ("あなたの役割（{role}）では利用できません。利用できる役割：{allowed}",
                          "Your role ({role}) may not use this. Who may: {allowed}"),
    "error.technical": ("技術的な詳細（英語）", "Technical details"),
}


def pick_language(query: str | None, cookie: str | None) -> str:
    for value in (query, cookie):
        if value in LANGUAGES:
            return value
    return DEFAULT_LANGUAGE


Translator = Callable[..., str]


STRINGS.update({f"role.{role.value}": labels for role, labels in ROLE_LABELS.items()})
STRINGS.update({f"audit_action.{action.value}": labels
                for action, labels in ACTION_LABELS.items()})


def translator(lang: str) -> Translator:
    """``t(key, **values)`` in ``lang``; values fill ``{name}`` placeholders."""
    index = LANGUAGES.index(lang) if lang in LANGUAGES else 0

    def t(key: str, **values: Any) -> str:
        pair = STRINGS.get(key)
        text = pair[index] if pair else key
        return text.format(**values) if values else text

    return t
