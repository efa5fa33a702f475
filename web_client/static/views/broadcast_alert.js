// 緊急放送 on the phone: an urgent broadcast opens full screen over whatever is on screen
// (even from a muted channel), sounds a chime made here with Web Audio (no sound file),
// vibrates, and stays until 確認しました is tapped. 読み上げ reads it aloud with the
// browser's own speech synthesis (ja-JP, on the device: nothing leaves the city).

import { t } from "../i18n.js";
import { apiFetch } from "../session.js";
import { broadcastsMissed, confirmBroadcast } from "../store.js";

// What the vibration motor does, in ms (the push's pattern is chat/domain/broadcast.py's).
const VIBRATION = [600, 200, 600, 200, 600, 200, 1200];
const CHIME_SECONDS = 12;          // the sound stops by itself; the screen stays

const open = new Map();            // message id -> {overlay, stop}

/** Open (or re-open, for a repeat) the full-screen alert for broadcast `m`. */
export function showBroadcast(app, m, repeat = 0) {
  closeBroadcast(m.id);
  const card = m.data || {};
  const overlay = document.createElement("div");
  overlay.className = "broadcast-alert";
  overlay.dataset.messageId = String(m.id);
  overlay.setAttribute("role", "alertdialog");
  overlay.setAttribute("aria-modal", "true");
  const title = document.createElement("h2");
  title.id = `broadcast-title-${m.id}`;
  title.textContent = `${card.drill ? t("broadcast.drill") : ""}${t("broadcast.title")}`;
  overlay.setAttribute("aria-labelledby", title.id);
  const meta = document.createElement("p");
  meta.className = "broadcast-meta";
  meta.textContent = t("broadcast.meta", { target: card.target || "", sender: card.sender || "" })
    + (repeat ? ` ${t("broadcast.repeat", { n: repeat })}` : "");
  const text = document.createElement("p");
  text.className = "broadcast-text";
  text.textContent = card.text || m.body || "";
  const confirm = document.createElement("button");
  confirm.type = "button";
  confirm.className = "broadcast-confirm";
  confirm.textContent = t("announce.confirm");
  confirm.addEventListener("click", () => {
    closeBroadcast(m.id);
    app.run(confirmBroadcast(app.state, m.id));
  });
  const parts = [title, meta, text, confirm];
  if ("speechSynthesis" in window) {
    const speak = document.createElement("button");
    speak.type = "button";
    speak.className = "broadcast-speak";
    speak.textContent = t("broadcast.speak");
    speak.addEventListener("click", () => readAloud(card, m));
    parts.push(speak);
  }
  overlay.append(...parts);
  document.body.append(overlay);
  const stopSound = chime();
  overlay.dataset.sound = stopSound ? "on" : "off";
  if (navigator.vibrate) navigator.vibrate(VIBRATION);
  open.set(m.id, { overlay, stop: stopSound || (() => {}) });
  confirm.focus();
}

function closeBroadcast(id) {
  const shown = open.get(id);
  if (!shown) return;
  open.delete(id);
  shown.stop();
  shown.overlay.remove();
  if (navigator.vibrate) navigator.vibrate(0);
  if ("speechSynthesis" in window) speechSynthesis.cancel();
}

/** On connecting: open what came while the page was closed and is not confirmed yet. */
export async function catchUp(app) {
  try {
    const { messages } = await apiFetch("/api/broadcast/unconfirmed");
    if (app.state) app.run(broadcastsMissed(app.state, messages));
  } catch (error) {
    console.warn("broadcasts:", error);
  }
}

/** Close every alert (signing out). */
export function closeAll() {
  for (const id of [...open.keys()]) closeBroadcast(id);
}

function readAloud(card, m) {
  speechSynthesis.cancel();
  const utterance = new SpeechSynthesisUtterance(
    `${t("broadcast.title")}。${card.target || ""}。${card.text || m.body || ""}`);
  utterance.lang = "ja-JP";
  speechSynthesis.speak(utterance);
}

/** The PA's two-tone chime, again and again for CHIME_SECONDS; returns how to stop it
 * (null when the browser has no Web Audio). A page nobody touched yet may keep it
 * silent (autoplay rules); the vibration and the screen still come. */
function chime() {
  const AudioContextClass = window.AudioContext || window.webkitAudioContext;
  if (!AudioContextClass) return null;
  const audio = new AudioContextClass();
  audio.resume().catch(() => {});
  const gain = audio.createGain();
  gain.gain.value = 0.2;
  gain.connect(audio.destination);
  const tone = audio.createOscillator();
  tone.type = "triangle";
  const start = audio.currentTime;
  for (let i = 0; i < CHIME_SECONDS * 2; i += 1) {
    tone.frequency.setValueAtTime(i % 2 ? 698 : 880, start + i * 0.5);   // F5, A5
  }
  tone.connect(gain);
  tone.start();
  tone.stop(start + CHIME_SECONDS);
  return () => {
    try { tone.stop(); } catch { /* stopped already */ }
    audio.close().catch(() => {});
  };
}
