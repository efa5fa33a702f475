// The conversation's header: the channel's name, the partner's presence, 📌 (the pinned
// bar and the list of pins) and the mute switch.

import { excerpt, nameOf } from "../format.js";
import { t } from "../i18n.js";
import { apiFetch } from "../session.js";
import { renderHeaderPresence } from "./presence.js";
import { openSheet } from "./sheets.js";

const $ = (id) => document.getElementById(id);

function showMute(muted) {
  $("mute-button").setAttribute("aria-pressed", String(muted));
  $("mute-button").textContent = muted ? "🔕" : "🔔";
}

/** The header of the channel just opened (its messages follow). */
export function renderHead(state) {
  const channel = state.channels.get(state.current);
  $("channel-title").textContent = channel ? channel.name : "";
  showMute(Boolean(channel && channel.muted));
  renderHeaderPresence(state);
}

export function clearHead() {
  $("channel-title").textContent = "";
  $("typing").textContent = "";
}

/** The latest pin of the current channel in the bar above the messages. */
export async function loadPins(app) {
  const id = app.state.current;
  let pins = [];
  try { pins = (await apiFetch(`/api/channels/${id}/pins`)).messages || []; } catch { pins = []; }
  if (!app.state || app.state.current !== id) return;
  const bar = $("pinned-bar");
  bar.hidden = !pins.length;
  bar.textContent = pins.length ? `📌 ${excerpt(pins[pins.length - 1])}` : "";
}

async function showPins(app) {
  const state = app.state;
  const pins = (await apiFetch(`/api/channels/${state.current}/pins`).catch(() => ({ messages: [] }))).messages || [];
  const items = pins.map((m) => {
    const p = document.createElement("p");
    p.textContent = `${nameOf(state.users, m.sender_id)}：${excerpt(m)}`;
    return p;
  });
  if (!items.length) { const p = document.createElement("p"); p.textContent = t("pins.none"); items.push(p); }
  openSheet(t("chat.pins"), items);
}

async function toggleMute(app) {
  const state = app.state;
  const c = state && state.channels.get(state.current);
  if (!c) return;
  const muted = !c.muted;
  try {
    await apiFetch(`/api/channels/${c.id}/mute`, { method: "PUT", body: { muted } });
    c.muted = muted;
    showMute(muted);
    app.run([{ kind: "channels" }]);
  } catch (error) { app.showError(error); }
}

export function setUp(app) {
  $("pins-button").addEventListener("click", () => showPins(app));
  $("mute-button").addEventListener("click", () => toggleMute(app));
}
