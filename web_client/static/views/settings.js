// 設定 (and the header's name): who is signed in, Web Push on or off, and the record of
// auditors' reads of one's own messages (docs/audit.md, Transparency). Language and
// sign-out are the page's (main.js), as they work signed out too.

import { errorText, roleLabel } from "../format.js";
import { t } from "../i18n.js";
import { PushFailure, disablePush, enablePush, pushState } from "../push.js";
import { apiFetch } from "../session.js";

const $ = (id) => document.getElementById(id);

let pushOn = false;
let pushFailure = null;     // the last PushFailure (push.js), said until push is turned on

/** The signed-in person, in the header and on 設定; empty when signed out. */
export function renderMe(state) {
  const me = state && state.me;
  $("me").textContent = me ? me.name : "";
  if (me) $("settings-me").textContent = t("settings.me", { name: me.name, role: roleLabel(me.role) });
}

/** 通知 on 設定: on, off, or why it could not be turned on and what to do about it. */
export async function showPushState() {
  const now = await pushState();
  pushOn = now === "on";
  if (pushOn) pushFailure = null;
  const why = pushFailure && pushFailure.cause ? errorText(pushFailure.cause) : "";
  const status = $("push-status");
  status.dataset.failure = pushFailure ? pushFailure.reason : (now === "denied" ? "blocked" : "");
  status.textContent = pushFailure ? t(`push.failed.${pushFailure.reason}`, { why })
    : t(now === "denied" ? "push.failed.blocked" : `push.${now}`);
  $("push-button").textContent = t(pushOn ? "push.disable" : "push.enable");
  // Blocked stays pressable: once allowed in the browser's settings, pressing works.
  $("push-button").disabled = now === "unsupported";
}

function accessRow(entry) {
  const li = document.createElement("li");
  li.className = "access-entry";
  li.dataset.kind = entry.kind;
  const head = document.createElement("span");
  const channel = entry.channel.name || (entry.channel.kind === "direct" ? t("access.direct") : `#${entry.channel.id}`);
  head.textContent = `${t(`access.accessor.${entry.accessor}`)}・${t(`access.kind.${entry.kind}`)}・${channel}`;
  const when = document.createElement("span");
  when.className = "sub when";
  when.textContent = new Date(entry.at).toLocaleString("ja-JP", { timeZone: "Asia/Tokyo" });
  const reason = document.createElement("span");
  reason.className = "reason";
  reason.textContent = entry.reason ? t("access.reason", { reason: entry.reason }) : t("access.no_reason");
  li.append(head, when, reason);
  if (entry.messages !== null) {
    const count = document.createElement("span");
    count.className = "sub";
    count.textContent = t("access.messages", { n: entry.messages });
    li.append(count);
  }
  return li;
}

/** Load and show who read or exported this person's messages (GET /api/me/access). */
export async function renderAccess() {
  $("access-status").textContent = t("access.loading");
  try {
    const r = await apiFetch("/api/me/access");
    $("access-list").replaceChildren(...r.entries.map(accessRow));
    $("access-status").textContent = r.entries.length ? t("access.count", { n: r.entries.length }) : t("access.none");
  } catch (error) {
    $("access-status").textContent = errorText(error);
  }
}

export function setUp() {
  $("push-button").addEventListener("click", async () => {
    pushFailure = null;
    try {
      if (pushOn) await disablePush(); else await enablePush();
    } catch (error) {
      pushFailure = error instanceof PushFailure ? error : new PushFailure("server", error);
    }
    await showPushState();
  });
  $("access-refresh").addEventListener("click", () => { renderAccess(); });
}
