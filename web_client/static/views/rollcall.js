// Safety roll calls (安否確認) on the phone: answering a card with one tap (the note and,
// only when the person taps 「位置を添付」, the position), and HQ's live tally in the
// sheet: by department, who has not answered, 「未回答者に再通知」 and the CSV.
// What is known lives in the state (store.js: rollcalls, rollcallTallies).

import { formatTime } from "../format.js";
import { t } from "../i18n.js";
import { apiFetch, apiFetchBlob } from "../session.js";
import { rollcallAnswered, rollcallLoaded } from "../store.js";
import { closeSheet, openSheet, sheetButton } from "./sheets.js";

const $ = (id) => document.getElementById(id);
const STATUS_KEYS = ["safe", "safe_cannot_come", "injured", "can_come", "unanswered"];
const loading = new Map();          // roll call id being fetched -> cards to redraw
let shownTally = null;              // the roll call whose tally the sheet shows

/** What a roll-call card's `ui.rollcall` does. */
export function rollcallUi(app) {
  return {
    of: (id) => app.state.rollcalls.get(id),
    load(id, redraw) {
      // Every card drawn while it loads is redrawn (a row may be redrawn meanwhile).
      if (loading.has(id)) { loading.get(id).push(redraw); return; }
      loading.set(id, [redraw]);
      const state = app.state;
      apiFetch(`/api/rollcalls/${id}`)
        .then((info) => {
          if (app.state !== state) return;
          rollcallLoaded(state, id, info);
          for (const again of loading.get(id) || []) again();
        })
        .catch(app.showError)
        .finally(() => loading.delete(id));
    },
    edit(id, redraw) {
      const known = app.state.rollcalls.get(id);
      if (known) { known.editing = true; redraw(); }
    },
    answer(id, status, note, redraw) {
      const known = app.state.rollcalls.get(id);
      const body = { status, note };
      if (known && known.position) body.position = known.position;
      apiFetch(`/api/rollcalls/${id}/answer`, { method: "POST", body })
        .then((result) => { rollcallAnswered(app.state, id, result.answer); redraw(); })
        .catch(app.showError);
    },
    attachPosition(id, redraw) {
      // The only place a position is read: this tap, once (never in the background).
      if (!navigator.geolocation) { app.notify(t("rollcall.no_position"), { error: true }); return; }
      navigator.geolocation.getCurrentPosition((pos) => {
        const known = app.state.rollcalls.get(id);
        if (!known) return;
        known.position = { lat: pos.coords.latitude, lon: pos.coords.longitude,
                           accuracy: pos.coords.accuracy };
        redraw();
      }, () => app.notify(t("rollcall.no_position"), { error: true }),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    },
    openTally: (id) => openTally(app, id).catch(app.showError),
  };
}

/** A `rollcall.tally` frame arrived: redraw the sheet if it shows that roll call. */
export function tallyArrived(app, id) {
  if (shownTally === id && !$("sheet").hidden && $("sheet-content").querySelector(".rollcall-tally")) {
    drawTally(app, id);
  }
}

async function openTally(app, id) {
  const { tally } = await apiFetch(`/api/rollcalls/${id}/tally`);
  const known = app.state.rollcallTallies.get(id);
  // A live frame newer than this answer wins (answers only grow).
  if (!known || known.answered <= tally.answered) app.state.rollcallTallies.set(id, tally);
  shownTally = id;
  openSheet(t("rollcall.tally_title"), [tallyBody(app, id)]);
}

function drawTally(app, id) {
  $("sheet-content").replaceChildren(tallyBody(app, id));
}

function tallyBody(app, id) {
  const tally = app.state.rollcallTallies.get(id);
  const root = document.createElement("div");
  root.className = "rollcall-tally";
  root.dataset.rollcallId = id;
  const info = tally.rollcall;
  const head = document.createElement("p");
  head.className = "rollcall-summary";
  head.textContent = `${info.title}：${info.text}`;
  const totals = document.createElement("p");
  totals.className = "rollcall-totals";
  totals.textContent = t("rollcall.answered_of", { n: tally.answered, total: tally.total }) + "　"
    + STATUS_KEYS.map((k) => `${t(`rollcall.status.${k}`)} ${tally.counts[k]}`).join("　");
  const table = document.createElement("table");
  table.className = "rollcall-table";
  const header = document.createElement("tr");
  for (const label of [t("rollcall.department"), ...STATUS_KEYS.map((k) => t(`rollcall.status.${k}`))]) {
    const th = document.createElement("th");
    th.textContent = label;
    header.append(th);
  }
  table.append(header);
  for (const row of tally.departments) {
    const tr = document.createElement("tr");
    tr.dataset.department = row.department;
    const name = document.createElement("td");
    name.textContent = [...new Set([row.bu, row.department].filter(Boolean))].join(" ")
      || t("rollcall.no_department");
    tr.append(name);
    for (const k of STATUS_KEYS) {
      const td = document.createElement("td");
      td.dataset.status = k;
      td.textContent = String(row.counts[k]);
      tr.append(td);
    }
    table.append(tr);
  }
  const missingTitle = document.createElement("h4");
  missingTitle.textContent = t("rollcall.unanswered_list", { n: tally.unanswered.length });
  const missing = document.createElement("ul");
  missing.className = "rollcall-unanswered";
  for (const p of tally.unanswered) {
    const li = document.createElement("li");
    li.textContent = `${p.name}（${p.department || t("rollcall.no_department")}）`;
    missing.append(li);
  }
  const result = document.createElement("p");
  result.className = "meta rollcall-result";
  const buttons = document.createElement("div");
  buttons.className = "card-actions";
  if (!info.ended_at) {
    buttons.append(sheetButton(t("rollcall.remind"), () => {
      apiFetch(`/api/rollcalls/${id}/remind`, { method: "POST", body: {} })
        .then((r) => { result.textContent = t("rollcall.reminded", { n: r.reminded, time: formatTime(new Date().toISOString()) }); })
        .catch(app.showError);
    }));
  }
  buttons.append(sheetButton(t("rollcall.csv"), () => downloadCsv(id).catch(app.showError)));
  root.append(head, totals, table, missingTitle, missing, buttons, result);
  return root;
}

async function downloadCsv(id) {
  const blob = await apiFetchBlob(`/api/rollcalls/${id}/export.csv`);
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `rollcall-${id}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// --- starting one (HQ) ------------------------------------------------------------------

/** After sign-in: offer HQ 「安否確認を開始」 above the channel list (others see nothing). */
export async function showStartEntry(app) {
  const state = app.state;
  const { may_start: mayStart } = await apiFetch("/api/rollcalls");
  const existing = $("rollcall-start");
  if (app.state !== state) return;
  if (!mayStart) { if (existing) existing.remove(); return; }
  if (existing) return;
  const b = document.createElement("button");
  b.type = "button";
  b.id = "rollcall-start";
  b.className = "rollcall-start";
  b.textContent = `🆘 ${t("rollcall.start")}`;
  b.addEventListener("click", () => openStartForm(app));
  $("channel-list").before(b);
}

function openStartForm(app) {
  const text = document.createElement("textarea");
  text.id = "rollcall-text";
  text.maxLength = 400;
  text.value = t("rollcall.default_text");
  const deadline = document.createElement("select");
  deadline.id = "rollcall-deadline";
  for (const minutes of ["", "30", "60", "120"]) {
    const option = document.createElement("option");
    option.value = minutes;
    option.textContent = minutes ? t("rollcall.within", { n: minutes }) : t("rollcall.no_deadline");
    deadline.append(option);
  }
  const go = sheetButton(t("rollcall.start_button"), () => {
    const body = { text: text.value };
    if (deadline.value) body.deadline_minutes = Number(deadline.value);
    apiFetch("/api/rollcalls", { method: "POST", body })
      .then(({ rollcall }) => {
        closeSheet();
        if (rollcall.channel_id != null) return app.openChannel(rollcall.channel_id);
        return null;
      })
      .catch(app.showError);
  });
  openSheet(t("rollcall.start"), [text, deadline, go]);
}
