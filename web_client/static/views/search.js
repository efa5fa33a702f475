// 検索: substring search over one's channels; a hit opens its channel.

import { errorText } from "../format.js";
import { t } from "../i18n.js";
import { apiFetch } from "../session.js";

const $ = (id) => document.getElementById(id);

function hitRow(app, hit) {
  const li = document.createElement("li");
  const head = document.createElement("span");
  head.textContent = `${hit.channel_name}・${(app.state.users.get(hit.sender_id) || {}).name || t("chat.system")}`;
  const when = document.createElement("span");
  when.className = "sub";
  when.textContent = new Date(hit.created_at).toLocaleString(undefined, { timeZone: "Asia/Tokyo" });
  const body = document.createElement("span");
  body.className = "hit";
  body.textContent = hit.body;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open";
  open.textContent = t("search.open");
  open.addEventListener("click", () => app.openChannel(hit.channel_id).catch(app.showError));
  li.append(head, open, when, body);
  return li;
}

export function setUp(app) {
  $("search-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = $("search-input").value.trim();
    if (!q || !app.state) return;
    $("search-status").textContent = t("search.searching");
    try {
      const r = await apiFetch(`/api/search/messages?q=${encodeURIComponent(q)}&limit=50`);
      $("search-results").replaceChildren(...r.results.map((hit) => hitRow(app, hit)));
      $("search-status").textContent = t("search.count", { n: r.results.length });
    } catch (error) {
      $("search-status").textContent = errorText(error);
    }
  });
}
