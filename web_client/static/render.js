// How a message looks: the row around it (ids, mine, pending) and a day separator; what
// is inside the row is the card view of the message's kind (cards/index.js). Pure DOM
// building from data; every text goes in as text, never as HTML. What happens on a tap
// is the caller's (`ui` callbacks).

import { cardView } from "./cards/index.js";
import { dayKey, formatDay } from "./format.js";

export function daySeparator(iso) {
  const li = document.createElement("li");
  li.className = "day";
  li.dataset.day = dayKey(iso);
  li.setAttribute("role", "separator");
  li.textContent = formatDay(iso);
  return li;
}

/**
 * Fill `li` for message `m`. `ui` gives: me, userName(id), readCount(m), state (for a
 * pending one: "queued" | "sending" | "failed"), isAnnouncement, and callbacks
 * onReact(m, emoji, mineToo), onNoticeAction(m, action), onConfirm(m), onReaders(m),
 * onOpenPhoto(m), onRetry(clientId), loadPhoto(m, img).
 */
export function fillMessage(li, m, ui) {
  // A pending bubble has no seq or id yet: it carries only its client id.
  if (m.seq != null) li.dataset.seq = m.seq; else delete li.dataset.seq;
  if (m.id != null) li.dataset.messageId = m.id; else delete li.dataset.messageId;
  if (m.client_id) li.dataset.clientId = m.client_id;
  const mine = m.sender_id != null && m.sender_id === ui.me.id;
  li.className = mine ? "mine" : "";
  if (ui.state) li.classList.add(ui.state === "failed" ? "failed" : "pending");
  cardView(m.kind).fill(li, m, ui);
}
