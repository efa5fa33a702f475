// The speech bubble every person's message shares (text, photo): sender, quote, body,
// reactions, time, 編集済, 📌, sending state or 既読, and 確認 in announcements. A card
// view passes what is its own (`extra`: a photo) to go under the body.

import { formatTime } from "../format.js";
import { t } from "../i18n.js";
import { renderText } from "../linkify.js";

export function fillBubble(li, m, ui, extra = []) {
  const parts = [];
  const mine = m.sender_id != null && m.sender_id === ui.me.id;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = m.sender_id == null ? t("chat.system") : ui.userName(m.sender_id);
  parts.push(who);
  if (m.reply_to) {
    const quote = document.createElement("span");
    quote.className = "quote";
    quote.textContent = `${ui.userName(m.reply_to.sender_id)}：${m.reply_to.excerpt || t("chat.deleted")}`;
    parts.push(quote);
  }
  const body = document.createElement("span");
  body.className = "body";
  if (m.purged_at) body.textContent = t("chat.purged");
  else if (m.deleted_at) body.textContent = t("chat.deleted");
  else renderText(body, m.body || "", (m.mentions || []).map((id) => ui.userName(id)));
  parts.push(body, ...extra);
  if (m.reactions && m.reactions.length && !m.deleted_at) parts.push(reactionsRow(m, ui));
  const meta = document.createElement("span");
  meta.className = "meta";
  const bits = [];
  if (m.created_at) bits.push(formatTime(m.created_at));
  if (m.edited_at && !m.deleted_at) bits.push(t("chat.edited"));
  if (m.pinned_at) bits.push("📌");
  meta.textContent = bits.join(" ");
  parts.push(meta);
  if (ui.state) parts.push(stateMark(m, ui));
  else if (mine) {
    const read = document.createElement("span");
    read.className = "meta read";
    const n = ui.readCount(m);
    read.textContent = n > 0 ? t("chat.read", { n }) : "";
    parts.push(read);
  }
  if (ui.isAnnouncement && !m.deleted_at && !ui.state) parts.push(confirmRow(m, ui));
  li.replaceChildren(...parts);
}

function stateMark(m, ui) {
  const span = document.createElement("span");
  span.className = `meta state state-${ui.state}`;
  span.textContent = t(`send.${ui.state}`);
  if (ui.state === "failed") {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = t("send.retry");
    retry.addEventListener("click", () => ui.onRetry(m.client_id));
    const wrap = document.createElement("span");
    wrap.append(span, retry);
    return wrap;
  }
  return span;
}

function reactionsRow(m, ui) {
  const row = document.createElement("span");
  row.className = "reactions";
  for (const r of m.reactions) {
    if (!r.user_ids.length) continue;
    const b = document.createElement("button");
    b.type = "button";
    const mineToo = r.user_ids.includes(ui.me.id);
    b.setAttribute("aria-pressed", String(mineToo));
    b.textContent = `${r.emoji} ${r.user_ids.length}`;
    b.setAttribute("aria-label", t("react.label", { emoji: r.emoji, n: r.user_ids.length }));
    b.addEventListener("click", () => ui.onReact(m, r.emoji, mineToo));
    row.append(b);
  }
  return row;
}

function confirmRow(m, ui) {
  const row = document.createElement("span");
  row.className = "confirm-row";
  const b = document.createElement("button");
  b.type = "button";
  b.className = "confirm";
  b.textContent = t("announce.confirm");
  b.addEventListener("click", () => ui.onConfirm(m));
  const list = document.createElement("button");
  list.type = "button";
  list.className = "readers";
  list.textContent = t("announce.readers");
  list.addEventListener("click", () => ui.onReaders(m));
  row.append(b, list);
  return row;
}
