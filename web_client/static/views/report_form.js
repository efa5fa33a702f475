// 被害報告: the phone's report screen, for one thumb in the rain. Big buttons for what
// and how bad, a short note, photos from the camera, 「位置を添付」 (the position is read
// only when tapped, never in the background), the time seen; 送信 queues the report
// with its photos on the phone (reports/report_outbox.js) and sends it when it can.

import { REPORT_CATEGORIES, REPORT_SEVERITIES } from "../constants.js";
import { errorText } from "../format.js";
import { t } from "../i18n.js";
import { discardReport, flushReports, queueReport, waitingReports } from "../reports/report_outbox.js";

const $ = (id) => document.getElementById(id);
const MAX_PHOTOS = 4;
const POSITION_TIMEOUT_MS = 20000;

let form = null;       // {category, severity, position, photos: [File]}

function fresh() {
  return { category: null, severity: null, position: null, photos: [] };
}

function choiceButtons(container, values, label, pick) {
  container.replaceChildren(...values.map((value) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "choice";
    b.dataset.value = String(value);
    b.textContent = t(label(value));
    b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", () => {
      pick(value);
      for (const other of container.children) other.setAttribute("aria-pressed", String(other === b));
    });
    return b;
  }));
}

/** "YYYY-MM-DDTHH:MM" in the phone's own time, for a datetime-local input. */
function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function drawChoices() {
  choiceButtons($("report-categories"), REPORT_CATEGORIES, (c) => `report.cat.${c}`,
                (c) => { form.category = c; });
  choiceButtons($("report-severities"), REPORT_SEVERITIES, (s) => `report.sev.${s}`,
                (s) => { form.severity = s; });
}

function draw() {
  drawChoices();
  $("report-note").value = "";
  $("report-photo-count").textContent = "";
  $("report-position").textContent = "";
  $("report-position-remove").hidden = true;
  $("report-taken-at").value = localInputValue(new Date());
  $("report-status").textContent = "";
}

function showPosition() {
  const p = form.position;
  $("report-position").textContent = p
    ? t("report.position", { lat: p.lat.toFixed(5), lon: p.lon.toFixed(5), acc: Math.round(p.accuracy_m) })
    : "";
  $("report-position-remove").hidden = !p;
}

/** Read the position once, now that the person tapped 「位置を添付」. */
function attachPosition() {
  if (!navigator.geolocation) {
    $("report-position").textContent = t("report.position_failed", { why: "—" });
    return;
  }
  $("report-position").textContent = t("report.locating");
  navigator.geolocation.getCurrentPosition((where) => {
    form.position = { lat: where.coords.latitude, lon: where.coords.longitude,
                      accuracy_m: Math.min(where.coords.accuracy, 10000) };
    showPosition();
  }, (error) => {
    $("report-position").textContent = t("report.position_failed", { why: error.message || error.code });
  }, { enableHighAccuracy: true, timeout: POSITION_TIMEOUT_MS, maximumAge: 0 });
}

/** Draw what waits in the outbox (and what the server refused). */
export async function renderWaiting(app) {
  if (!app.state || !app.state.me) return;
  const items = await waitingReports(app.state.me.id).catch(() => []);
  const list = $("report-waiting");
  const waiting = items.filter((r) => !r.error);
  const lines = [];
  if (waiting.length) {
    const li = document.createElement("li");
    li.textContent = t("report.queued", { n: waiting.length });
    lines.push(li);
  }
  for (const r of items.filter((i) => i.error)) {
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = t("report.failed", { why: errorText(r.error) });
    const discard = document.createElement("button");
    discard.type = "button";
    discard.textContent = t("report.discard");
    discard.addEventListener("click", () => discardReport(r.client_id).then(() => renderWaiting(app)));
    li.append(" ", discard);
    lines.push(li);
  }
  list.replaceChildren(...lines);
}

/** Send what waits (after 送信, on `online`, after every reconnect). */
export function sendWaiting(app) {
  if (!app.state || !app.state.me) return Promise.resolve();
  const userId = app.state.me.id;
  return flushReports(userId, () => renderWaiting(app)).catch((error) => console.warn("reports:", error));
}

async function submit(app) {
  if (!form.category || !form.severity) {
    $("report-status").textContent = t("report.needs");
    return;
  }
  const taken = $("report-taken-at").value ? new Date($("report-taken-at").value) : new Date();
  const fields = { category: form.category, severity: form.severity,
                   note: $("report-note").value.trim(), position: form.position,
                   taken_at: (Number.isNaN(taken.getTime()) ? new Date() : taken).toISOString() };
  try {
    await queueReport(app.state.me.id, fields, form.photos);
  } catch (error) {
    $("report-status").textContent = errorText(error);
    return;
  }
  form = fresh();
  draw();
  $("report-status").textContent = navigator.onLine ? t("report.sent") : "";
  await renderWaiting(app);
  await sendWaiting(app);
}

/** Show the report screen afresh. */
export function render(app) {
  if (!form) { form = fresh(); draw(); }
  renderWaiting(app);
}

export function relabel() {
  if (!form) return;
  drawChoices();
  for (const [id, value] of [["report-categories", form.category], ["report-severities", form.severity]]) {
    for (const b of $(id).children) b.setAttribute("aria-pressed", String(b.dataset.value === String(value)));
  }
  showPosition();
}

export function setUp(app) {
  $("report-position-button").addEventListener("click", attachPosition);
  $("report-position-remove").addEventListener("click", () => { form.position = null; showPosition(); });
  $("report-photo-input").addEventListener("change", (ev) => {
    form.photos = [...form.photos, ...ev.target.files].slice(0, MAX_PHOTOS);
    ev.target.value = "";
    $("report-photo-count").textContent = t("report.photo_count", { n: form.photos.length });
  });
  $("report-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(app).catch((error) => { $("report-status").textContent = errorText(error); });
  });
  window.addEventListener("online", () => sendWaiting(app));
}
