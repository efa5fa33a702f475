// What can be done to a message: long-press (or right-click, or Enter on a focused
// message) opens the actions in the bottom sheet — 返信, スタンプ, コピー, 編集, 削除
// (confirmed), ピン留め, 既読・未読の一覧 — and the taps on a message's own buttons
// (a stamp, 確認, a notice's claim and done).

import { MESSAGE_KINDS, CHANNEL_KINDS, STAMPS } from "../constants.js";
import { t } from "../i18n.js";
import { ApiError, apiFetch } from "../session.js";
import { readerSections } from "../selectors.js";
import { mayPost } from "./composer.js";
import { closeSheet, openSheet, sheetButton } from "./sheets.js";

const $ = (id) => document.getElementById(id);
const LONG_PRESS_MS = 500;

/** Make `li` (a stored message) open its actions on a long press. */
export function wireLongPress(app, li) {
  let timer = null;
  let fired = false;
  const start = () => {
    fired = false;
    timer = setTimeout(() => { timer = null; fired = true; openActions(app, li); }, LONG_PRESS_MS);
  };
  // The finger lifting after a long press is not also a tap (on a photo, a card button).
  li.addEventListener("click", (ev) => {
    if (fired) { ev.stopPropagation(); ev.preventDefault(); fired = false; }
  }, true);
  const cancel = () => { clearTimeout(timer); timer = null; };
  li.addEventListener("pointerdown", (ev) => { if (ev.button === 0) start(); });
  for (const type of ["pointerup", "pointerleave", "pointercancel", "pointermove"]) li.addEventListener(type, cancel);
  li.addEventListener("contextmenu", (ev) => { ev.preventDefault(); cancel(); openActions(app, li); });
  li.tabIndex = 0;
  li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && ev.target === li) openActions(app, li); });
}

function openActions(app, li) {
  const state = app.state;
  const m = state.messages.get(Number(li.dataset.seq));
  if (!m || !m.id) return;
  const mine = m.sender_id === state.me.id;
  const live = !m.deleted_at && !m.purged_at;
  const buttons = [];
  if (live && mayPost(app.state)) buttons.push([t("act.reply"), () => { app.setReply(m); $("body").focus(); }]);
  if (live) buttons.push([t("act.react"), () => openStamps(app, m)]);
  if (live && m.body) buttons.push([t("act.copy"), () => navigator.clipboard && navigator.clipboard.writeText(m.body)]);
  if (live && mine && m.kind === MESSAGE_KINDS.TEXT) buttons.push([t("act.edit"), () => editMessage(app, m)]);
  if (live && mine) buttons.push([t("act.delete"), () => confirmDelete(app, m)]);
  if (live) buttons.push([m.pinned_at ? t("act.unpin") : t("act.pin"),
                          () => app.send({ type: m.pinned_at ? "unpin" : "pin", message_id: m.id })]);
  if (mine || state.channels.get(m.channel_id)?.kind === CHANNEL_KINDS.ANNOUNCEMENT) {
    buttons.push([t("announce.readers"), () => showReaders(app, m).catch(app.showError)]);
  }
  openSheet(t("act.title"), buttons.map(([label, run]) => sheetButton(label, () => { closeSheet(); run(); })));
}

function openStamps(app, m) {
  const row = document.createElement("div");
  row.className = "stamps";
  for (const emoji of STAMPS) {
    row.append(sheetButton(emoji, () => { closeSheet(); react(app, m, emoji, false); }));
  }
  openSheet(t("act.react"), [row]);
}

/** Put a stamp on `m`, or take mine off (`mineToo`: I already put this one). */
export function react(app, m, emoji, mineToo) {
  app.send({ type: mineToo ? "unreact" : "react", message_id: m.id, emoji });
}

function editMessage(app, m) {
  const form = document.createElement("form");
  form.className = "edit-form";
  const area = document.createElement("textarea");
  area.value = m.body;
  area.maxLength = 10000;
  area.rows = 3;
  area.setAttribute("aria-label", t("act.edit"));
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary";
  save.textContent = t("act.save");
  form.append(area, save);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = area.value;
    if (text.trim() && text !== m.body) app.send({ type: "edit", message_id: m.id, body: text });
    closeSheet();
  });
  openSheet(t("act.edit"), [form]);
}

function confirmDelete(app, m) {
  openSheet(t("act.delete_confirm"), [sheetButton(t("act.delete"), () => {
    closeSheet();
    app.send({ type: "delete", message_id: m.id });
  })]);
}

/** Who confirmed (where people confirm), who read and who has not read `m` yet. */
export async function showReaders(app, m) {
  const r = await apiFetch(`/api/messages/${m.id}/readers`);
  const confirmable = m.kind === MESSAGE_KINDS.BROADCAST
    || app.state.channels.get(m.channel_id)?.kind === CHANNEL_KINDS.ANNOUNCEMENT;
  const section = ({ key, people }) => {
    const wrap = document.createElement("div");
    wrap.dataset.readers = key;
    const h = document.createElement("h4");
    h.textContent = people.length ? `${t(`readers.${key}`)}（${people.length}）` : t(`readers.${key}`);
    const ul = document.createElement("ul");
    for (const p of people) { const li = document.createElement("li"); li.textContent = p.name; ul.append(li); }
    if (!people.length) { const li = document.createElement("li"); li.className = "none"; li.textContent = t(`readers.none_${key}`); ul.append(li); }
    wrap.append(h, ul);
    return wrap;
  };
  openSheet(t("announce.readers"), readerSections(r, confirmable).map(section));
}

/** 私が対応します / 対応済みにする on a notice card; a refused claim (409) is said, not thrown. */
export async function noticeAction(app, m, action) {
  try {
    const r = await apiFetch(`/api/notices/${m.id}/${action}`, { method: "POST", body: {} });
    if (r && r.message) app.dispatch({ type: "message.updated", message: r.message });
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      app.showError(error);
      return;
    }
    throw error;
  }
}
