// 本部 (the HQ board), for members of the disaster HQ: the disaster's field reports as a
// live list (new ones and status changes arrive through the HQ channel's frames) with
// filters by what, how bad and status, who changed a status and when, and the map.
// Positions are read through GET /api/reports/positions, which the server audits.

import { REPORT_CATEGORIES, REPORT_SEVERITIES, REPORT_STATUSES } from "../constants.js";
import { errorText, formatTime } from "../format.js";
import { t } from "../i18n.js";
import {
  boardLoaded, createBoard, markers, missingPositions, positionsLoaded, reportReceived, visibleReports,
} from "../reports/board_state.js";
import { apiFetch } from "../session.js";
import { createMap } from "./hq_map.js";
import { loadImage } from "./photos.js";

const $ = (id) => document.getElementById(id);

let board = createBoard();
let map = null;
let mapPromise = null;

/** Show the 本部 tab only to whom the server shows the board (HQ members, admins). */
export async function checkAccess(app) {
  const state = app.state;
  let allowed = false;
  try {
    boardLoaded(board, await apiFetch("/api/reports"));
    allowed = true;
  } catch { /* not on the HQ, or no disaster yet */ }
  if (app.state !== state) return;
  $("tab-board").hidden = !allowed;
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = String(value);
  o.textContent = text;
  return o;
}

function drawFilters() {
  const fill = (id, values, label) => {
    const select = $(id);
    const kept = select.value;
    select.replaceChildren(option("", t("board.all")), ...values.map((v) => option(v, t(label(v)))));
    select.value = kept;
  };
  fill("board-category", REPORT_CATEGORIES, (c) => `report.cat.${c}`);
  fill("board-severity", REPORT_SEVERITIES, (s) => `report.sev.${s}`);
  fill("board-status", REPORT_STATUSES, (s) => `report.status.${s}`);
}

function statusButtons(app, r) {
  const wrap = document.createElement("div");
  wrap.className = "card-actions";
  wrap.setAttribute("role", "group");
  wrap.setAttribute("aria-label", t("board.set_status"));
  for (const status of REPORT_STATUSES) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = t(`report.status.${status}`);
    b.setAttribute("aria-pressed", String(r.status === status));
    b.addEventListener("click", () => setStatus(app, r.message_id, status));
    wrap.append(b);
  }
  return wrap;
}

function entry(app, r) {
  const li = document.createElement("li");
  li.className = `report-entry severity-${r.severity} status-${r.status}`;
  li.dataset.messageId = String(r.message_id);
  const title = document.createElement("strong");
  title.textContent = `${r.drill ? t("report.drill") : ""}${t(`report.cat.${r.category}`)}・${t(`report.sev.${r.severity}`)}`;
  const note = document.createElement("span");
  note.className = "body";
  note.textContent = r.note || "";
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = `${t("report.by", { name: r.reporter ? r.reporter.name : "", time: r.taken_at ? formatTime(r.taken_at) : "" })}`
    + (r.has_position ? "" : ` ・ ${t("report.no_position")}`);
  const status = document.createElement("span");
  status.className = "report-status";
  status.textContent = r.status_by
    ? t("report.status_by", { status: t(`report.status.${r.status}`), name: r.status_by.name, time: formatTime(r.status_at) })
    : t(`report.status.${r.status}`);
  li.append(title, note, meta, status);
  if (r.photos && r.photos.length) {
    const photos = document.createElement("span");
    photos.className = "report-photos";
    for (const id of r.photos) {
      const img = document.createElement("img");
      img.alt = t("photo.alt");
      photos.append(img);
      loadImage(app, `/api/reports/photos/${id}/thumb`, img);
    }
    li.append(photos);
  }
  li.append(statusButtons(app, r));
  return li;
}

function draw(app) {
  const shown = visibleReports(board);
  $("board-count").textContent = t("board.count", { n: shown.length });
  $("board-list").replaceChildren(...(shown.length ? shown.map((r) => entry(app, r))
    : [Object.assign(document.createElement("li"), { textContent: t("board.empty") })]));
  if (map) map.show(markers(board));
}

async function readPositions(app) {
  const ids = missingPositions(board);
  if (!ids.length) return;
  const answer = await apiFetch(`/api/reports/positions?ids=${ids.join(",")}`);
  positionsLoaded(board, answer.positions);
  if (app.state) draw(app);
}

async function setStatus(app, messageId, status) {
  try {
    const answer = await apiFetch(`/api/reports/${messageId}/status`, { method: "POST", body: { status } });
    reportReceived(board, answer.message);
    draw(app);
  } catch (error) {
    $("board-error").textContent = errorText(error);
  }
}

/** Open the board: load the reports, then the map and their positions. */
export async function render(app) {
  drawFilters();
  $("board-error").textContent = "";
  try {
    boardLoaded(board, await apiFetch("/api/reports"));
    const positions = new Map(board.positions);
    board.positions = positions;
    draw(app);
    if (!mapPromise) {
      mapPromise = apiFetch("/api/reports/map").then((layer) => createMap($("board-map"), layer));
    }
    map = await mapPromise;
    map.resize();
    draw(app);
    await readPositions(app);
  } catch (error) {
    $("board-error").textContent = errorText(error);
  }
}

/** A message of the HQ channel arrived or changed: the board follows, live. */
export function messageArrived(app, message) {
  const { redraw, fetchPosition } = reportReceived(board, message);
  if (!redraw || !app.state || app.state.view !== "board") return;
  draw(app);
  if (fetchPosition) readPositions(app).catch((error) => console.warn("positions:", error));
}

/** Signed out: forget everything (positions included). */
export function reset() {
  board = createBoard();
  if (map) map.show([]);
  $("board-list").replaceChildren();
  $("tab-board").hidden = true;
}

export function setUp(app) {
  for (const [id, key] of [["board-category", "category"], ["board-severity", "severity"], ["board-status", "status"]]) {
    $(id).addEventListener("change", (ev) => { board.filters[key] = ev.target.value; draw(app); });
  }
}
