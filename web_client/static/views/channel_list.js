// トーク: the channels grouped (全庁のお知らせ, 部署 in org-chart order, グループ, 個別・電話),
// each with its last message, time, unread count, 🔕 and the partner's presence; the
// tab's unread total; ＋ グループを作る.

import { CHANNEL_KINDS } from "../constants.js";
import { excerpt, listTime } from "../format.js";
import { t } from "../i18n.js";
import { channelsOfKind, departmentDepth, presenceOf, totalUnread } from "../selectors.js";
import { openGroupForm } from "./group_form.js";
import { presenceMark } from "./presence.js";

const $ = (id) => document.getElementById(id);

const GROUPS = [[CHANNEL_KINDS.ANNOUNCEMENT, "list.announcements"], [CHANNEL_KINDS.DEPARTMENT, "list.departments"],
                [CHANNEL_KINDS.GROUP, "list.groups"], [CHANNEL_KINDS.DIRECT, "list.direct"]];

export function render(app) {
  const state = app.state;
  if (!state) return;
  const list = $("channel-list");
  list.replaceChildren();
  for (const [kind, label] of GROUPS) {
    const items = channelsOfKind(state, kind, { byOrgChart: kind === CHANNEL_KINDS.DEPARTMENT });
    if (!items.length) continue;
    const heading = document.createElement("li");
    heading.className = "group-heading";
    heading.textContent = t(label);
    list.append(heading);
    for (const c of items) list.append(channelRow(app, c));
  }
  const total = totalUnread(state);
  const badge = $("tab-unread");
  badge.hidden = total === 0;
  badge.textContent = total > 99 ? "99+" : String(total);
}

function channelRow(app, c) {
  const state = app.state;
  const li = document.createElement("li");
  if (c.kind === CHANNEL_KINDS.DEPARTMENT) li.className = `depth-${Math.min(departmentDepth(state, c.department_id), 2)}`;
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.channelId = c.id;
  if (c.id === state.current) b.setAttribute("aria-current", "true");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = c.name + (c.muted ? " 🔕" : "");
  const side = document.createElement("span");
  side.className = "time";
  side.textContent = c.last_message ? listTime(c.last_message.created_at) : "";
  const last = document.createElement("span");
  last.className = "last";
  last.textContent = excerpt(c.last_message);
  b.append(name, side, last);
  if (c.partner_id != null) {
    const p = presenceOf(state, c.partner_id);
    if (p) b.append(presenceMark(p));
  }
  if (c.unread > 0 && c.id !== state.current) {
    const badge = document.createElement("span");
    badge.className = "unread";
    badge.textContent = c.unread > 99 ? "99+" : String(c.unread);
    badge.setAttribute("aria-label", t("chat.unread", { n: c.unread }));
    b.append(badge);
  }
  b.addEventListener("click", () => app.openChannel(c.id).catch(app.showError));
  li.append(b);
  return li;
}

export function setUp(app) {
  $("new-group").addEventListener("click", () => { if (app.state && app.state.me) openGroupForm(app); });
}
