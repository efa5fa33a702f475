// Presence beside a name (● オンライン, ☎ 着信中, ☎ 通話中), shared by the channel list,
// the directory and the conversation's header.

import { t } from "../i18n.js";
import { presenceOf } from "../selectors.js";

const $ = (id) => document.getElementById(id);

export function presenceMark(p) {
  const span = document.createElement("span");
  span.className = "presence";
  span.dataset.state = p;
  span.textContent = t(`presence.${p}`);
  return span;
}

/** The partner's presence in a direct chat's header (empty elsewhere). */
export function renderHeaderPresence(state) {
  const c = state.channels.get(state.current);
  const label = $("channel-presence");
  const p = c && c.partner_id != null ? presenceOf(state, c.partner_id) : null;
  label.dataset.state = p || "";
  label.className = "presence presence-label";
  label.textContent = p ? t(`presence.${p}`) : "";
}
