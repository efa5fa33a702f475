// 緊急放送 in the conversation: the bubble, marked urgent, with its audience; the sender
// sees how many have confirmed (loaded once from the readers list, then live from
// confirm.updated). The full-screen alert is views/broadcast_alert.js.

import { t } from "../i18n.js";
import { apiFetch } from "../session.js";
import { fillBubble } from "./bubble.js";

const counts = new Map();          // message id -> {confirmed, total}

export function fill(li, m, ui) {
  const card = m.data || {};
  li.classList.add("broadcast");
  const badge = document.createElement("span");
  badge.className = "broadcast-badge";
  badge.textContent = `${card.drill ? t("broadcast.drill") : ""}🚨 ${t("broadcast.title")}・${card.target || ""}`;
  const extra = [badge];
  if (m.id && ui.me && m.sender_id === ui.me.id) {
    const count = document.createElement("span");
    count.className = "broadcast-count";
    count.dataset.messageId = String(m.id);
    extra.push(count);
    if (counts.has(m.id)) showCount(count, counts.get(m.id));
    else loadCount(m.id);
  }
  fillBubble(li, m, ui, extra);
}

/** confirm.updated: the count on the sender's screen goes up. */
export function setConfirmCount(messageId, confirmed) {
  const known = counts.get(messageId);
  if (!known) { loadCount(messageId); return; }
  known.confirmed = confirmed;
  redraw(messageId);
}

async function loadCount(messageId) {
  try {
    const r = await apiFetch(`/api/messages/${messageId}/readers`);
    counts.set(messageId, { confirmed: r.confirmed.length, total: r.read.length + r.unread.length });
    redraw(messageId);
  } catch { /* not a member any more: no count */ }
}

function redraw(messageId) {
  for (const el of document.querySelectorAll(`.broadcast-count[data-message-id="${messageId}"]`)) {
    showCount(el, counts.get(messageId));
  }
}

function showCount(el, { confirmed, total }) {
  el.textContent = t("broadcast.count", { n: confirmed, total });
}
