// 電話帳: everyone, filtered by name, kana, extension or department, with presence, a 📞
// (tel: the extension), a message button, and 伝言メモ for those who take memos.

import { MEMO_TAKERS } from "../constants.js";
import { t } from "../i18n.js";
import { matchingPeople, presenceOf } from "../selectors.js";
import { openMemoForm } from "./memo_form.js";
import { presenceMark } from "./presence.js";
import { sheetButton } from "./sheets.js";

const $ = (id) => document.getElementById(id);

export function render(app) {
  const state = app.state;
  if (!state || !state.me) return;
  const list = $("directory-list");
  list.replaceChildren();
  for (const u of matchingPeople([...state.users.values()], $("directory-input").value)) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = u.name;
    const p = presenceOf(state, u.id);
    if (p) name.append(" ", presenceMark(p));
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = [u.department, u.extension ? t("directory.ext", { ext: u.extension }) : ""].filter(Boolean).join("・");
    li.append(name);
    if (u.extension) {
      const call = document.createElement("a");
      call.className = "call";
      call.href = `tel:${u.extension}`;
      call.textContent = t("directory.call");
      call.setAttribute("aria-label", t("directory.call_label", { name: u.name, ext: u.extension }));
      li.append(call);
    }
    li.append(sub);
    const actions = document.createElement("span");
    actions.className = "sub";
    if (u.id !== state.me.id) {
      actions.append(sheetButton(t("directory.message"), () => app.openDirect(u.id).catch(app.showError)));
      if (MEMO_TAKERS.includes(state.me.role)) {
        actions.append(" ", sheetButton(t("memo.button"), () => openMemoForm(u)));
      }
    }
    li.append(actions);
    list.append(li);
  }
}

export function setUp(app) {
  $("directory-input").addEventListener("input", () => render(app));
}
