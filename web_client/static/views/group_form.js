// ＋ グループを作る: a name and members picked from the directory, in the bottom sheet.

import { apiFetch } from "../session.js";
import { errorText } from "../format.js";
import { t } from "../i18n.js";
import { matchingPeople } from "../selectors.js";
import { closeSheet, openSheet } from "./sheets.js";

export function openGroupForm(app) {
  const state = app.state;
  const form = document.createElement("form");
  form.className = "group-form";
  const nameLabel = document.createElement("label");
  nameLabel.textContent = t("group.name");
  const name = document.createElement("input");
  name.required = true;
  name.maxLength = 100;
  nameLabel.append(name);
  const filter = document.createElement("input");
  filter.type = "search";
  filter.placeholder = t("directory.placeholder");
  filter.setAttribute("aria-label", t("directory.label"));
  const list = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = t("group.members");
  list.append(legend);
  const chosen = new Set();
  const people = [...state.users.values()].filter((u) => u.id !== state.me.id);
  const draw = () => {
    list.replaceChildren(legend);
    for (const u of matchingPeople(people, filter.value, ["name", "kana", "department"])) {
      const label = document.createElement("label");
      label.className = "member";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = String(u.id);
      box.checked = chosen.has(u.id);
      box.addEventListener("change", () => { if (box.checked) chosen.add(u.id); else chosen.delete(u.id); });
      label.append(box, ` ${u.name}（${u.department || "—"}）`);
      list.append(label);
    }
  };
  filter.addEventListener("input", draw);
  draw();
  const status = document.createElement("p");
  status.className = "error";
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.className = "primary";
  submit.textContent = t("group.create");
  form.append(nameLabel, filter, list, submit, status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!chosen.size) { status.textContent = t("group.pick"); return; }
    try {
      const c = await apiFetch("/api/channels/group", {
        method: "POST", body: { name: name.value, member_ids: [...chosen] } });
      closeSheet();
      if (!state.channels.has(c.id)) state.channels.set(c.id, { unread: 0, last_message: null, ...c });
      await app.openChannel(c.id);
    } catch (error) {
      status.textContent = errorText(error);
    }
  });
  openSheet(t("group.title"), [form]);
}
