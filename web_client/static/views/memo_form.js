// 伝言メモ: an operator writes down a call for someone away from the desk (POST /api/memos);
// it arrives as a memo card in their 「電話」 channel.

import { MEMO_ACTIONS } from "../constants.js";
import { errorText } from "../format.js";
import { t } from "../i18n.js";
import { apiFetch } from "../session.js";
import { closeSheet, openSheet } from "./sheets.js";

export function openMemoForm(user) {
  const form = document.createElement("form");
  form.className = "memo-form";
  const field = (name, label, el = "input") => {
    const wrap = document.createElement("label");
    wrap.textContent = label;
    const input = document.createElement(el);
    input.name = name;
    wrap.append(input);
    form.append(wrap);
    return input;
  };
  field("caller_name", t("memo.caller"));
  field("company", t("memo.company"));
  field("number", t("memo.number")).type = "tel";
  const action = field("action", t("memo.action"), "select");
  for (const a of MEMO_ACTIONS) {
    const o = document.createElement("option");
    o.value = a;
    o.textContent = t(`memo.${a}`);
    action.append(o);
  }
  field("text", t("memo.text"), "textarea").maxLength = 1000;
  const status = document.createElement("p");
  status.className = "error";
  const submit = document.createElement("button");
  submit.type = "submit";
  submit.className = "primary";
  submit.textContent = t("memo.send");
  form.append(submit, status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    for (const key of Object.keys(data)) if (data[key] === "") delete data[key];
    try {
      await apiFetch("/api/memos", { method: "POST", body: { for_user_id: user.id, ...data } });
      closeSheet();
    } catch (error) {
      status.textContent = errorText(error);
    }
  });
  openSheet(t("memo.title", { name: user.name }), [form]);
}
