// Sending a 緊急放送 (crisis management, managers, admins): a 🚨 button above the channel
// list, shown only when the server lists targets for this person, opens a form — to
// everyone or to a building/floor group — that posts POST /api/cards/broadcast.

import { BROADCASTERS } from "../constants.js";
import { errorText } from "../format.js";
import { t } from "../i18n.js";
import { apiFetch } from "../session.js";
import { closeSheet, openSheet } from "./sheets.js";

const $ = (id) => document.getElementById(id);

/** Offer the button if this person may broadcast. The role is checked here first, so a
 * staff member's page does not ask (and log a 403 for) every sign-in; the server still
 * decides, and lists the targets. */
export async function offer(me) {
  if (!me || !BROADCASTERS.includes(me.role)) return;
  let targets;
  try {
    targets = (await apiFetch("/api/broadcast/targets")).targets;
  } catch {
    return;
  }
  let button = $("broadcast-button");
  if (!button) {
    button = document.createElement("button");
    button.id = "broadcast-button";
    button.type = "button";
    button.className = "broadcast-button";
    $("new-group").before(button);
  }
  button.textContent = `🚨 ${t("broadcast.send_title")}`;
  button.onclick = () => openForm(targets);
}

function openForm(targets) {
  const form = document.createElement("form");
  form.className = "broadcast-form";
  const targetLabel = document.createElement("label");
  targetLabel.textContent = t("broadcast.target");
  const select = document.createElement("select");
  select.name = "target";
  for (const target of targets) {
    const option = document.createElement("option");
    option.value = target.target;
    option.textContent = target.members != null
      ? `${target.label}（${t("broadcast.members", { n: target.members })}）` : target.label;
    select.append(option);
  }
  targetLabel.append(select);
  const textLabel = document.createElement("label");
  textLabel.textContent = t("broadcast.text");
  const text = document.createElement("textarea");
  text.name = "text";
  text.maxLength = 500;
  text.required = true;
  textLabel.append(text);
  const note = document.createElement("p");
  note.className = "hint";
  note.textContent = t("broadcast.note");
  const status = document.createElement("p");
  status.className = "error";
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.className = "primary danger";
  submit.textContent = t("broadcast.send");
  form.append(targetLabel, textLabel, note, submit, status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submit.disabled = true;
    try {
      await apiFetch("/api/cards/broadcast", { method: "POST",
                                              body: { target: select.value, text: text.value } });
      closeSheet();
    } catch (error) {
      status.textContent = errorText(error);
    } finally {
      submit.disabled = false;
    }
  });
  openSheet(t("broadcast.send_title"), [form]);
}
