// How a message looks: bubble, quote, photo, reactions, 既読, states, and the cards of
// missed calls and phone memos. Pure DOM building from data; every text goes in as text
// (renderText), never as HTML. What happens on a tap is the caller's (`ui` callbacks).

import { t, language } from "./i18n.js";
import { renderText } from "./linkify.js";

const ZONE = "Asia/Tokyo";

export function formatTime(iso) {
  return new Date(iso).toLocaleTimeString(language() === "ja" ? "ja-JP" : "en-GB",
                                          { hour: "2-digit", minute: "2-digit", timeZone: ZONE });
}

/** For the chat list: the time today, otherwise the date. */
export function listTime(iso, now = new Date()) {
  if (dayKey(iso) === dayKey(now.toISOString())) return formatTime(iso);
  const sameYear = dayKey(iso).slice(0, 4) === dayKey(now.toISOString()).slice(0, 4);
  return new Date(iso).toLocaleDateString(language() === "ja" ? "ja-JP" : "en-GB", {
    year: sameYear ? undefined : "numeric", month: "numeric", day: "numeric", timeZone: ZONE });
}

/** 「今日」「昨日」 or the full date with the weekday, in the city's time zone. */
export function formatDay(iso, now = new Date()) {
  const key = dayKey(iso);
  if (key === dayKey(now.toISOString())) return t("day.today");
  if (key === dayKey(new Date(now.getTime() - 86400000).toISOString())) return t("day.yesterday");
  return new Date(iso).toLocaleDateString(language() === "ja" ? "ja-JP" : "en-GB", {
    year: "numeric", month: "long", day: "numeric", weekday: "short", timeZone: ZONE });
}

export function dayKey(iso) {
  return new Date(iso).toLocaleDateString("en-CA", { timeZone: ZONE });
}

export function daySeparator(iso) {
  const li = document.createElement("li");
  li.className = "day";
  li.dataset.day = dayKey(iso);
  li.setAttribute("role", "separator");
  li.textContent = formatDay(iso);
  return li;
}

/** A short text for lists and quotes: what the message is, without markup. */
export function excerpt(m) {
  if (!m) return "";
  if (m.purged_at) return t("chat.purged");
  if (m.deleted_at) return t("chat.deleted");
  if (m.attachment && !m.body) return t("photo.label");
  return (m.body || "").replace(/\s+/g, " ").slice(0, 80);
}

/**
 * Fill `li` for message `m`. `ui` gives: me, userName(id), readCount(m), state (for a
 * pending one: "queued" | "sending" | "failed"), and callbacks onReact(m, emoji),
 * onNoticeAction(m, action), onConfirm(m), onOpenPhoto(m), onRetry(clientId),
 * loadPhoto(m, img).
 */
export function fillMessage(li, m, ui) {
  // A pending bubble has no seq or id yet: it carries only its client id.
  if (m.seq != null) li.dataset.seq = m.seq; else delete li.dataset.seq;
  if (m.id != null) li.dataset.messageId = m.id; else delete li.dataset.messageId;
  if (m.client_id) li.dataset.clientId = m.client_id;
  const mine = m.sender_id != null && m.sender_id === ui.me.id;
  li.className = mine ? "mine" : "";
  if (ui.state) li.classList.add(ui.state === "failed" ? "failed" : "pending");
  if (m.kind === "call.missed" || m.kind === "memo") { fillCard(li, m, ui); return; }

  const parts = [];
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
  parts.push(body);
  if (m.attachment && !m.deleted_at && !m.purged_at) {
    const img = document.createElement("img");
    img.className = "photo";
    img.alt = t("photo.alt");
    img.width = Math.min(m.attachment.width || 320, 320);
    img.addEventListener("click", () => ui.onOpenPhoto(m));
    parts.push(img);
    ui.loadPhoto(m, img);
    if (m.attachment.location) {
      const where = document.createElement("a");
      where.className = "location";
      const { lat, lon } = m.attachment.location;
      where.href = `geo:${lat},${lon}`;
      where.textContent = `📍 ${Number(lat).toFixed(5)}, ${Number(lon).toFixed(5)}`;
      parts.push(where);
    }
  }
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

/** A missed call or a phone memo: who, when, callback, claim and done. */
function fillCard(li, m, ui) {
  li.classList.add("card");
  const card = m.data || {};
  const parts = [];
  const title = document.createElement("span");
  title.className = "card-title";
  title.textContent = m.kind === "memo" ? `📝 ${t("card.memo")}` : `📞 ${t("card.missed")}`
    + (card.count > 1 ? ` ×${card.count}` : "");
  parts.push(title);
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = m.purged_at ? t("chat.purged") : m.body;
  parts.push(body);
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${t("card.from_phone")} ${m.created_at ? formatTime(m.created_at) : ""}`;
  parts.push(meta);
  if (card.state === "claimed" || card.state === "done") {
    const who = document.createElement("span");
    who.className = "claimed";
    who.textContent = card.state === "done"
      ? t("card.done_by", { name: card.done_by ? card.done_by.name : "" })
      : t("card.claimed_by", { name: card.claimed_by ? card.claimed_by.name : "" });
    parts.push(who);
  }
  const actions = document.createElement("span");
  actions.className = "card-actions";
  const caller = card.caller || {};
  if (caller.tel && !m.purged_at) {
    const call = document.createElement("a");
    call.href = caller.tel;
    call.textContent = t("card.callback", { who: caller.name || caller.display || "" });
    actions.append(call);
  }
  if (card.state === "open") actions.append(cardButton(t("card.claim"), () => ui.onNoticeAction(m, "claim")));
  if (card.state === "open" || (card.state === "claimed" && card.claimed_by && card.claimed_by.id === ui.me.id)) {
    actions.append(cardButton(t("card.done"), () => ui.onNoticeAction(m, "done")));
  }
  parts.push(actions);
  li.replaceChildren(...parts);
}

function cardButton(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}
