// One conversation: its messages with day separators, older pages on demand, messages
// arriving and changing live, 既読, the typing indicator, and the bubbles of messages not
// stored yet (queued / sending / failed). The state says what is there; this module
// keeps only the DOM rows of pending messages and the typing timers.

import { CHANNEL_KINDS } from "../constants.js";
import { dayKey, excerpt, nameOf } from "../format.js";
import { t } from "../i18n.js";
import { daySeparator, fillMessage } from "../render.js";
import { apiFetch } from "../session.js";
import { readCount } from "../selectors.js";
import { enterChannel, firstSeq, historyLoaded, olderLoaded, typingEnded } from "../store.js";
import { showComposerFor } from "./composer.js";
import { clearHead, loadPins, renderHead } from "./conversation_head.js";
import { noticeAction, react, showReaders, wireLongPress } from "./message_actions.js";
import { loadImage, openPhoto, releaseImages } from "./photos.js";
import { rollcallUi } from "./rollcall.js";

const $ = (id) => document.getElementById(id);
const TYPING_SHOWN_MS = 4000;

const pendingRows = new Map();     // client id -> <li> of a message not stored yet
const typingTimers = new Map();    // user id -> timeout that ends their indicator

/** Forget what is on screen (signed out). */
export function reset() {
  for (const timer of typingTimers.values()) clearTimeout(timer);
  typingTimers.clear();
  pendingRows.clear();
  releaseImages();
  $("messages").replaceChildren();
  clearHead();
}

/** Open channel `id`: its header at once, then its latest page of history. */
export async function openChannel(app, id) {
  const state = app.state;
  for (const timer of typingTimers.values()) clearTimeout(timer);
  typingTimers.clear();
  enterChannel(state, id);
  releaseImages();
  app.setReply(null);
  pendingRows.clear();
  $("messages").replaceChildren();
  $("typing").textContent = "";
  app.setView("conversation");
  renderHead(state);
  showComposerFor(state);
  const page = await apiFetch(`/api/channels/${id}/messages?limit=50`);
  if (app.state !== state || state.current !== id) return;
  historyLoaded(state, page);
  render(app);
  app.run([{ kind: "channels" }, { kind: "markRead" }, { kind: "pins" }]);
}

async function loadOlder(app) {
  const state = app.state;
  const page = await apiFetch(`/api/channels/${state.current}/messages?limit=50&before_seq=${firstSeq(state)}`);
  olderLoaded(state, page);
  render(app);
  $("messages").scrollTop = 0;
}

/** What a message's view needs from the state, and what its buttons do. */
export function uiFor(app, m, pendingState = null) {
  const state = app.state;
  const channel = state.channels.get(m.channel_id);
  return {
    me: state.me,
    state: pendingState,
    isAnnouncement: Boolean(channel && channel.kind === CHANNEL_KINDS.ANNOUNCEMENT && m.id),
    userName: (id) => nameOf(state.users, id),
    readCount: (msg) => readCount(state, msg),
    onReact: (msg, emoji, mineToo) => react(app, msg, emoji, mineToo),
    onNoticeAction: (msg, action) => noticeAction(app, msg, action).catch(app.showError),
    onConfirm: (msg) => app.send({ type: "confirm", message_id: msg.id }),
    onReaders: (msg) => showReaders(app, msg).catch(app.showError),
    onOpenPhoto: (msg) => openPhoto(app, msg).catch(app.showError),
    onRetry: (clientId) => app.retry(clientId),
    loadPhoto: (msg, img) => loadImage(app, msg.attachment.thumb_url, img),
    rollcall: rollcallUi(app),
  };
}

function messageRow(app, m) {
  const li = document.createElement("li");
  fillMessage(li, m, uiFor(app, m));
  wireLongPress(app, li);
  return li;
}

/** Draw the whole conversation from the state. */
export function render(app) {
  const state = app.state;
  if (!state || state.current == null) return;
  const list = $("messages");
  list.replaceChildren();
  if (state.hasMore) {
    const li = document.createElement("li");
    li.className = "day";
    const more = document.createElement("button");
    more.type = "button";
    more.textContent = t("chat.older");
    more.addEventListener("click", () => loadOlder(app).catch(app.showError));
    li.append(more);
    list.append(li);
  }
  let lastDay = null;
  for (const m of [...state.messages.values()].sort((a, b) => a.seq - b.seq)) {
    const day = dayKey(m.created_at);
    if (day !== lastDay) { list.append(daySeparator(m.created_at)); lastDay = day; }
    list.append(messageRow(app, m));
  }
  pendingRows.clear();
  for (const [clientId, p] of state.pending) {
    if (p.item.channel_id !== state.current) continue;
    const li = document.createElement("li");
    pendingRows.set(clientId, li);
    list.append(li);
    drawPending(app, clientId);
  }
  list.scrollTop = list.scrollHeight;
}

/** A new message at the end (before any still-pending bubbles of mine). */
export function append(app, m) {
  const list = $("messages");
  const days = list.querySelectorAll("li.day[data-day]");
  const lastDay = days.length ? days[days.length - 1].dataset.day : null;
  const firstPending = list.querySelector("li.pending, li.failed");
  const place = (el) => (firstPending ? list.insertBefore(el, firstPending) : list.append(el));
  if (dayKey(m.created_at) !== lastDay) place(daySeparator(m.created_at));
  const li = messageRow(app, m);
  place(li);
  li.scrollIntoView({ block: "end" });
}

/** Redraw a message that changed (edit, delete, stamp, pin, a notice claimed). */
export function update(app, m) {
  const li = $("messages").querySelector(`li[data-message-id="${m.id}"]`);
  if (li) fillMessage(li, m, uiFor(app, m));
}

export function renderReadCounts(app) {
  for (const li of $("messages").querySelectorAll("li.mine[data-message-id]")) {
    const m = app.state.messages.get(Number(li.dataset.seq));
    if (m) fillMessage(li, m, uiFor(app, m));
  }
}

/** Someone is typing (`userId`), or an indicator ended (null): name the latest typist. */
export function showTyping(app, userId) {
  const state = app.state;
  if (userId != null) {
    clearTimeout(typingTimers.get(userId));
    typingTimers.set(userId, setTimeout(() => {
      typingTimers.delete(userId);
      if (app.state === state) app.run(typingEnded(state, userId));
    }, TYPING_SHOWN_MS));
  }
  const typists = [...state.typing.keys()];
  if (!typists.length) { $("typing").textContent = ""; return; }
  const user = state.users.get(typists[typists.length - 1]);
  $("typing").textContent = t("chat.typing", { name: user ? user.name : t("chat.someone") });
}

// --- messages not stored yet -------------------------------------------------------------

function pendingAsMessage(state, item) {
  return { ...item, id: null, seq: null, sender_id: state.me.id, created_at: new Date(item.created_at).toISOString(),
           reply_to: item.reply_to ? quoteOf(state, item.reply_to) : null };
}

function quoteOf(state, messageId) {
  for (const m of state.messages.values()) {
    if (m.id === messageId) return { id: m.id, sender_id: m.sender_id, excerpt: excerpt(m) };
  }
  return { id: messageId, sender_id: null, excerpt: "" };
}

/** Give a pending message of the open channel its bubble, if it has none yet. */
export function showPending(app, clientId) {
  const p = app.state.pending.get(clientId);
  if (!p || p.item.channel_id !== app.state.current || pendingRows.has(clientId)) return;
  const li = document.createElement("li");
  pendingRows.set(clientId, li);
  $("messages").append(li);
}

/** Redraw a pending message's bubble (queued / sending / failed), if it is on screen. */
export function drawPending(app, clientId) {
  const li = pendingRows.get(clientId);
  const p = app.state.pending.get(clientId);
  if (!li || !p) return;
  const m = pendingAsMessage(app.state, p.item);
  fillMessage(li, m, uiFor(app, m, p.state));
  li.dataset.clientId = clientId;
  li.scrollIntoView({ block: "end" });
}

/** The server stored it: its bubble goes (the stored message takes its place). */
export function dropPending(clientId) {
  const li = pendingRows.get(clientId);
  pendingRows.delete(clientId);
  if (li) li.remove();
}
