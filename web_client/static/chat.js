// The chat on a phone: the websocket loop (hello -> auth -> ready, reconnect with
// backoff, resync from the last seq), the tabs (トーク, 検索, 電話帳, 設定), the
// conversation (既読, edits, deletes, typing, day separators, long-press actions,
// reactions, replies, pins, announcements' 確認), photos with location, call presence,
// and missed-call / memo cards. Messages typed offline wait in the outbox and go out on
// reconnect with their client ids (docs/protocol.md). Text is always set as text.

import { t } from "./i18n.js";
import * as outbox from "./outbox.js";
import { daySeparator, dayKey, excerpt, fillMessage, listTime } from "./render.js";
import { ApiError, apiFetch, apiFetchBlob, apiUpload, wsAuthFrame, wsUrl } from "./session.js";

// Close codes the server uses (chat/protocol.py).
const CLOSE_POLICY = 1008;
const CLOSE_SESSION_ENDED = 4002;
const CLOSE_OFF_HOURS = 4003;
const MAX_BACKOFF_MS = 15000;
const LONG_PRESS_MS = 500;
// The stamps the server accepts (docs/protocol.md, "Reactions").
export const STAMPS = ["👍", "❤️", "😂", "😮", "🙏", "✅", "了解", "お疲れさま", "ありがとう"];

const $ = (id) => document.getElementById(id);

let handlers = null;   // {onSessionEnded(frame), onOffHours(frame), onAuthFailed(frame)}
let state = null;

function freshState() {
  return {
    me: null, ws: null, backoff: 500, reconnectTimer: null, heartbeat: null, ready: false,
    users: new Map(), departments: new Map(), online: new Set(), calls: new Map(),
    channels: new Map(),            // id -> channel summary
    current: null,                  // channel id on screen
    messages: new Map(),            // seq -> message, for the current channel
    lastSeq: 0, lastVersion: 0, readPositions: new Map(), hasMore: false,
    pending: new Map(),             // client_id -> {item, li, state}
    typingTimers: new Map(), replyTo: null, photo: null, blobs: [],
    view: "chats",
  };
}

/**
 * Open the chat for the signed-in session. `callbacks` are told when the chat has to
 * give way: onSessionEnded(errorFrame|null) on close 4002 (sign in again),
 * onOffHours(errorFrame|null) on close 4003 (the frame's message_ja / message says why),
 * onAuthFailed(errorFrame|null) when the server refused the auth frame (close 1008).
 */
export async function startChat(callbacks) {
  stopChat();
  handlers = callbacks;
  state = freshState();
  const mine = state;
  $("chat-error").textContent = "";
  const [dir, depts] = await Promise.all([apiFetch("/api/users?limit=2000"),
                                          apiFetch("/api/departments").catch(() => null)]);
  if (state !== mine) return;            // stopped meanwhile
  for (const u of dir.users) state.users.set(u.id, u);
  for (const d of (depts && depts.departments) || []) state.departments.set(d.id, d);
  setView("chats");
  connect();
}

/** Close the socket without reconnecting and clear the screen. */
export function stopChat() {
  if (!state) return;
  const old = state;
  state = null;
  clearTimeout(old.reconnectTimer);
  clearInterval(old.heartbeat);
  for (const timer of old.typingTimers.values()) clearTimeout(timer);
  for (const url of old.blobs) URL.revokeObjectURL(url);
  if (old.ws) old.ws.close(1000, "signed out");
  for (const id of ["channel-list", "messages", "search-results", "directory-list"]) $(id).replaceChildren();
  $("channel-title").textContent = "";
  $("typing").textContent = "";
  $("me").textContent = "";
  closeSheet();
  setConn("offline");
}

/** Re-render text that depends on the language. */
export function relabelChat() {
  if (!state) return;
  setConn(state.ws && state.ready && state.ws.readyState === WebSocket.OPEN ? "online" : "offline");
  renderChannels();
  renderConversation();
  renderDirectory();
}

/** The signed-in person (after `ready`). */
export function currentUser() {
  return state ? state.me : null;
}

// --- the connection ---------------------------------------------------------------------

function connect() {
  const mine = state;
  clearTimeout(mine.reconnectTimer);
  const ws = new WebSocket(wsUrl());
  let lastError = null;
  mine.ws = ws;
  mine.ready = false;
  ws.addEventListener("message", async (ev) => {
    if (state !== mine || mine.ws !== ws) return;
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    if (f.type === "hello") {
      // The server's nonce for this connection: prove the device key over it.
      try {
        ws.send(JSON.stringify(await wsAuthFrame(f.dpop_nonce)));
      } catch (error) {
        console.warn("auth frame:", error);
        ws.close(1000, "no device key");
      }
      return;
    }
    if (f.type === "error") lastError = f;
    onFrame(f);
  });
  ws.addEventListener("close", (ev) => {
    if (state !== mine || mine.ws !== ws) return;    // stopped, or replaced
    const wasReady = mine.ready;
    mine.ready = false;
    clearInterval(mine.heartbeat);
    setConn("reconnecting");
    markUnsentAsQueued();
    if (ev.code === CLOSE_SESSION_ENDED) { handlers.onSessionEnded(lastError); return; }
    if (ev.code === CLOSE_OFF_HOURS) { handlers.onOffHours(lastError); return; }
    if (ev.code === CLOSE_POLICY && !wasReady) { handlers.onAuthFailed(lastError); return; }
    // Exponential backoff with jitter, so a whole city hall does not reconnect at once.
    const delay = mine.backoff * (0.75 + Math.random() / 2);
    mine.reconnectTimer = setTimeout(connect, delay);
    mine.backoff = Math.min(mine.backoff * 2, MAX_BACKOFF_MS);
  });
}

function connected() {
  return Boolean(state && state.ready && state.ws && state.ws.readyState === WebSocket.OPEN);
}

function send(frame) {
  if (connected()) state.ws.send(JSON.stringify(frame));
  return connected();
}

function setConn(mode) {
  $("conn").dataset.state = mode === "online" ? "online" : "offline";
  $("conn").textContent = t(`conn.${mode}`);
}

// Offline (the phone says so): the socket is as good as dead; what is typed now waits in
// the outbox, shown as not sent yet, instead of vanishing into a dead connection.
window.addEventListener("offline", () => {
  if (state && state.ws) state.ws.close(4100, "offline");
});

// Back online: do not wait for the backoff timer.
window.addEventListener("online", () => {
  if (state && !connected() && state.ws && state.ws.readyState !== WebSocket.CONNECTING) {
    state.backoff = 500;
    connect();
  }
});

function onFrame(f) {
  switch (f.type) {
    case "ready": onReady(f); break;
    case "message": onMessage(f.message); break;
    case "message.updated": onUpdated(f.message); break;
    case "ack": onAck(f); break;
    case "ok": break;
    case "resync.result": onResync(f); break;
    case "read":
      if (f.channel_id === state.current) { state.readPositions.set(f.user_id, f.seq); renderReadCounts(); }
      break;
    case "typing": onTyping(f); break;
    case "presence":
      if (f.status === "online") state.online.add(f.user_id); else state.online.delete(f.user_id);
      renderPresence();
      break;
    case "presence.batch":
      for (const id of f.online) state.online.add(id);
      for (const id of f.offline) state.online.delete(id);
      renderPresence();
      break;
    case "call.presence":
      if (f.status === "idle") state.calls.delete(f.user_id); else state.calls.set(f.user_id, f.status);
      renderPresence();
      break;
    case "channel.joined":
      // A channel made for us may already hold what it was made for (a call notice).
      state.channels.set(f.channel.id, {
        last_message: null, ...f.channel,
        unread: Math.max(0, (f.channel.last_seq || 0) - (f.channel.last_read_seq || 0)) });
      renderChannels(); break;
    case "channel.left":
      state.channels.delete(f.channel_id); renderChannels(); break;
    case "reaction.updated": patchMessage(f.channel_id, f.message_id, { reactions: f.reactions }); break;
    case "pin.updated":
      patchMessage(f.channel_id, f.message_id, { pinned_at: f.pinned_at });
      if (f.channel_id === state.current) loadPins();
      break;
    case "confirm.updated": break;
    case "mention": onMention(f.message); break;
    case "resync.required":
      if (state.current) send({ type: "resync", channel_id: state.current, after_seq: state.lastSeq,
                                after_version: state.lastVersion });
      break;
    case "error": onErrorFrame(f); break;
  }
}

async function onReady(f) {
  state.me = f.user; state.backoff = 500; state.ready = true; setConn("online");
  $("me").textContent = f.user.name;
  $("settings-me").textContent = t("settings.me", { name: f.user.name, role: f.user.role });
  state.online = new Set(f.online_user_ids);
  state.calls = new Map((f.call_presence || []).map((p) => [p.user_id, p.status]));
  state.channels = new Map(f.channels.map((c) => [c.id, c]));
  clearInterval(state.heartbeat);
  state.heartbeat = setInterval(() => send({ type: "ping" }), (f.heartbeat_seconds || 30) * 1000);
  renderChannels();
  renderDirectory();
  if (state.current && state.channels.has(state.current)) {
    send({ type: "resync", channel_id: state.current, after_seq: state.lastSeq,
           after_version: state.lastVersion });
  }
  await flushOutbox();
}

function onErrorFrame(f) {
  const pending = f.ref && state.pending.get(f.ref);
  if (pending) {                      // this message was refused: say so beside it
    pending.state = "failed";
    pending.error = f;
    drawPending(pending);
    if (f.code !== "rate_limited") outbox.remove(f.ref).catch(() => {});
  }
  $("chat-error").textContent = `${f.message_ja || f.message} (${f.code})`;
}

// --- views ------------------------------------------------------------------------------

export function setView(view) {
  if (!state) return;
  state.view = view;
  $("chat").dataset.view = view;
  for (const b of document.querySelectorAll(".tabs button")) {
    if (b.dataset.view === view || (view === "conversation" && b.dataset.view === "chats")) {
      b.setAttribute("aria-current", "page");
    } else b.removeAttribute("aria-current");
  }
  $("back-button").hidden = view !== "conversation";
  $("app-title").textContent = view === "conversation" ? "" : t(`nav.${view === "chats" ? "chats" : view}`);
  if (view === "directory") renderDirectory();
  if (view === "chats") renderChannels();
}

for (const b of document.querySelectorAll(".tabs button")) {
  b.addEventListener("click", () => setView(b.dataset.view));
}
$("back-button").addEventListener("click", () => setView("chats"));

// --- the channel list ---------------------------------------------------------------------

const GROUPS = [["announcement", "list.announcements"], ["department", "list.departments"],
                ["group", "list.groups"], ["direct", "list.direct"]];

function deptDepth(id) {
  let depth = 0;
  let d = state.departments.get(id);
  while (d && d.parent_id != null && depth < 5) { depth += 1; d = state.departments.get(d.parent_id); }
  return depth;
}

/** Department channels in org-chart order (部 → 課 → 係, each level by sort order). */
function orgOrder(channels) {
  const byDept = new Map(channels.filter((c) => c.department_id != null).map((c) => [c.department_id, c]));
  const children = new Map();
  for (const d of state.departments.values()) {
    const key = d.parent_id ?? 0;
    if (!children.has(key)) children.set(key, []);
    children.get(key).push(d);
  }
  const out = [];
  const walk = (parent) => {
    for (const d of (children.get(parent) || []).sort((a, b) => a.sort_order - b.sort_order || a.id - b.id)) {
      if (byDept.has(d.id)) { out.push(byDept.get(d.id)); byDept.delete(d.id); }
      walk(d.id);
    }
  };
  walk(0);
  return [...out, ...byDept.values()];
}

function lastActivity(c) {
  return c.last_message ? Date.parse(c.last_message.created_at) : 0;
}

function renderChannels() {
  if (!state) return;
  const list = $("channel-list");
  list.replaceChildren();
  let totalUnread = 0;
  for (const [kind, label] of GROUPS) {
    let items = [...state.channels.values()].filter((c) => c.kind === kind);
    if (!items.length) continue;
    items = kind === "department" ? orgOrder(items) : items.sort((a, b) => lastActivity(b) - lastActivity(a));
    const heading = document.createElement("li");
    heading.className = "group-heading";
    heading.textContent = t(label);
    list.append(heading);
    for (const c of items) {
      totalUnread += c.id === state.current ? 0 : (c.unread || 0);
      list.append(channelRow(c));
    }
  }
  const badge = $("tab-unread");
  badge.hidden = totalUnread === 0;
  badge.textContent = totalUnread > 99 ? "99+" : String(totalUnread);
}

function channelRow(c) {
  const li = document.createElement("li");
  if (c.kind === "department") li.className = `depth-${Math.min(deptDepth(c.department_id), 2)}`;
  const b = document.createElement("button");
  b.type = "button";
  b.dataset.channelId = c.id;
  if (c.id === state.current) b.setAttribute("aria-current", "true");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = c.name + (c.muted ? " 🔕" : "");
  const side = document.createElement("span");
  side.className = "time";
  side.textContent = c.last_message ? listTime(c.last_message.created_at) : "";
  const last = document.createElement("span");
  last.className = "last";
  last.textContent = excerpt(c.last_message);
  b.append(name, side, last);
  if (c.partner_id != null) {
    const p = presenceOf(c.partner_id);
    if (p) { const mark = presenceMark(p); b.append(mark); }
  }
  if (c.unread > 0 && c.id !== state.current) {
    const badge = document.createElement("span");
    badge.className = "unread";
    badge.textContent = c.unread > 99 ? "99+" : String(c.unread);
    badge.setAttribute("aria-label", t("chat.unread", { n: c.unread }));
    b.append(badge);
  }
  b.addEventListener("click", () => openChannel(c.id).catch(showChatError));
  li.append(b);
  return li;
}

// --- presence ------------------------------------------------------------------------------

/** "on_call" | "ringing" | "online" | null: a call outranks being online. */
function presenceOf(userId) {
  return state.calls.get(userId) || (state.online.has(userId) ? "online" : null);
}

function presenceMark(p) {
  const span = document.createElement("span");
  span.className = "presence";
  span.dataset.state = p;
  span.textContent = t(`presence.${p}`);
  return span;
}

function renderPresence() {
  renderChannels();
  if (state.view === "directory") renderDirectory();
  const c = state.channels.get(state.current);
  const label = $("channel-presence");
  const p = c && c.partner_id != null ? presenceOf(c.partner_id) : null;
  label.dataset.state = p || "";
  label.className = "presence presence-label";
  label.textContent = p ? t(`presence.${p}`) : "";
}

// --- a conversation -------------------------------------------------------------------------

function showChatError(error) {
  $("chat-error").textContent = (error && (error.messageJa || error.message)) || String(error);
}

async function openChannel(id) {
  const mine = state;
  state.current = id;
  state.messages = new Map();
  for (const url of state.blobs) URL.revokeObjectURL(url);
  state.blobs = [];
  setReply(null);
  $("messages").replaceChildren();
  $("chat-error").textContent = "";
  const channel = state.channels.get(id);
  $("channel-title").textContent = channel ? channel.name : "";
  $("mute-button").setAttribute("aria-pressed", String(Boolean(channel && channel.muted)));
  $("mute-button").textContent = channel && channel.muted ? "🔕" : "🔔";
  setView("conversation");
  renderPresence();
  const page = await apiFetch(`/api/channels/${id}/messages?limit=50`);
  if (state !== mine || state.current !== id) return;
  state.lastSeq = 0;
  state.lastVersion = page.last_version;
  state.hasMore = page.has_more;
  state.readPositions = new Map(Object.entries(page.read_positions).map(([u, s]) => [Number(u), s]));
  for (const m of page.messages) state.messages.set(m.seq, m);
  state.lastSeq = Math.max(page.last_seq, ...page.messages.map((m) => m.seq), 0);
  renderConversation();
  if (channel) channel.unread = 0;
  renderChannels();
  markRead();
  loadPins();
}

function renderConversation() {
  if (!state || state.current == null) return;
  const list = $("messages");
  list.replaceChildren();
  if (state.hasMore) {
    const li = document.createElement("li");
    li.className = "day";
    const more = document.createElement("button");
    more.type = "button";
    more.textContent = t("chat.older");
    more.addEventListener("click", () => loadOlder().catch(showChatError));
    li.append(more);
    list.append(li);
  }
  let lastDay = null;
  const rows = [...state.messages.values()].sort((a, b) => a.seq - b.seq);
  for (const m of rows) {
    const day = dayKey(m.created_at);
    if (day !== lastDay) { list.append(daySeparator(m.created_at)); lastDay = day; }
    const li = document.createElement("li");
    fillMessage(li, m, uiFor(m));
    wireLongPress(li);
    list.append(li);
  }
  for (const p of state.pending.values()) {
    if (p.item.channel_id !== state.current) continue;
    p.li = document.createElement("li");
    drawPending(p);
    list.append(p.li);
  }
  list.scrollTop = list.scrollHeight;
}

async function loadOlder() {
  const first = Math.min(...state.messages.keys());
  const page = await apiFetch(`/api/channels/${state.current}/messages?limit=50&before_seq=${first}`);
  for (const m of page.messages) state.messages.set(m.seq, m);
  state.hasMore = page.has_more;
  renderConversation();
  $("messages").scrollTop = 0;
}

function uiFor(m, pendingState = null) {
  const channel = state.channels.get(m.channel_id);
  return {
    me: state.me,
    state: pendingState,
    isAnnouncement: Boolean(channel && channel.kind === "announcement" && m.id),
    userName: (id) => (state.users.get(id) || {}).name || t("chat.someone"),
    readCount: (msg) => {
      let readers = 0;
      for (const [user, seq] of state.readPositions) if (user !== msg.sender_id && seq >= msg.seq) readers++;
      return readers;
    },
    onReact: (msg, emoji, mineToo) => react(msg, emoji, mineToo),
    onNoticeAction: (msg, action) => noticeAction(msg, action).catch(showChatError),
    onConfirm: (msg) => send({ type: "confirm", message_id: msg.id }),
    onReaders: (msg) => showReaders(msg).catch(showChatError),
    onOpenPhoto: (msg) => openPhoto(msg).catch(showChatError),
    onRetry: (clientId) => retry(clientId),
    loadPhoto: (msg, img) => loadImage(msg.attachment.thumb_url, img),
  };
}

async function loadImage(url, img) {
  try {
    const blob = await apiFetchBlob(url);
    if (!state) return;
    const objectUrl = URL.createObjectURL(blob);
    state.blobs.push(objectUrl);
    img.src = objectUrl;
  } catch (error) {
    img.alt = t("photo.failed");
  }
}

function markRead() {
  if (state && state.current && state.lastSeq > 0 && document.visibilityState === "visible"
      && state.view === "conversation") {
    send({ type: "read", channel_id: state.current, seq: state.lastSeq });
  }
}

function messageLi(m) {
  return $("messages").querySelector(`li[data-message-id="${m.id}"]`);
}

function appendMessage(m) {
  if (state.messages.has(m.seq)) return;
  state.messages.set(m.seq, m);
  state.lastSeq = Math.max(state.lastSeq, m.seq);
  state.lastVersion = Math.max(state.lastVersion, m.version);
  const list = $("messages");
  const days = list.querySelectorAll("li.day[data-day]");
  const lastDay = days.length ? days[days.length - 1].dataset.day : null;
  // The message goes before any still-pending bubbles of mine.
  const firstPending = list.querySelector("li.pending, li.failed");
  const place = (el) => (firstPending ? list.insertBefore(el, firstPending) : list.append(el));
  if (dayKey(m.created_at) !== lastDay) place(daySeparator(m.created_at));
  const li = document.createElement("li");
  fillMessage(li, m, uiFor(m));
  wireLongPress(li);
  place(li);
  li.scrollIntoView({ block: "end" });
}

function onMessage(m) {
  const c = state.channels.get(m.channel_id);
  if (c) {
    c.last_message = m;
    if (m.seq > (c.last_seq || 0)) {
      c.last_seq = m.seq;
      if (m.sender_id !== state.me.id && !(m.channel_id === state.current && state.view === "conversation")) {
        c.unread = (c.unread || 0) + 1;
      }
    }
  }
  if (m.channel_id !== state.current) { renderChannels(); return; }
  if (m.seq <= state.lastSeq && state.messages.has(m.seq)) return;
  if (m.seq > state.lastSeq + 1) {     // a gap: fetch what is missing, in order
    send({ type: "resync", channel_id: m.channel_id, after_seq: state.lastSeq });
    return;
  }
  settlePending(m);
  appendMessage(m);
  clearTyping(m.sender_id);
  markRead();
  renderChannels();
}

function onUpdated(m) {
  const c = state.channels.get(m.channel_id);
  if (c && c.last_message && c.last_message.id === m.id) { c.last_message = m; renderChannels(); }
  if (m.channel_id !== state.current) return;
  state.lastVersion = Math.max(state.lastVersion, m.version);
  state.messages.set(m.seq, m);
  const li = messageLi(m);
  if (li) fillMessage(li, m, uiFor(m));
}

function patchMessage(channelId, messageId, fields) {
  if (channelId !== state.current) return;
  for (const m of state.messages.values()) {
    if (m.id === messageId) { Object.assign(m, fields); onUpdated(m); return; }
  }
}

function onAck(f) {
  settlePending(f.message);
  if (f.message.channel_id === state.current) appendMessage(f.message);
  const c = state.channels.get(f.message.channel_id);
  if (c) { c.last_message = f.message; renderChannels(); }
}

function onResync(f) {
  if (f.channel_id !== state.current) return;
  for (const m of f.messages) { settlePending(m); appendMessage(m); }
  for (const m of f.updated) onUpdated(m);
  if (f.limited) send({ type: "resync", channel_id: f.channel_id, after_seq: f.next_seq,
                        after_version: f.next_version });
  else markRead();
}

function onMention(m) {
  if (m.channel_id === state.current && state.view === "conversation") return;
  $("chat-error").textContent = t("chat.mentioned", { name: (state.users.get(m.sender_id) || {}).name || "" });
}

function renderReadCounts() {
  for (const li of $("messages").querySelectorAll("li.mine[data-message-id]")) {
    const m = state.messages.get(Number(li.dataset.seq));
    if (m) fillMessage(li, m, uiFor(m));
  }
}

function onTyping(f) {
  if (f.channel_id !== state.current || f.user_id === state.me.id) return;
  const user = state.users.get(f.user_id);
  $("typing").textContent = t("chat.typing", { name: user ? user.name : t("chat.someone") });
  clearTimeout(state.typingTimers.get(f.user_id));
  state.typingTimers.set(f.user_id, setTimeout(() => clearTyping(f.user_id), 4000));
}

function clearTyping(userId) {
  if (!state) return;
  clearTimeout(state.typingTimers.get(userId));
  state.typingTimers.delete(userId);
  if (!state.typingTimers.size) $("typing").textContent = "";
}

// --- sending, honestly: queued (offline) / sending / sent / failed ---------------------------

async function queueMessage(fields) {
  const item = { client_id: crypto.randomUUID(), user_id: state.me.id, created_at: Date.now(), ...fields };
  const p = { item, li: null, state: "queued" };
  const mine = state;
  state.pending.set(item.client_id, p);
  try { await outbox.put(item); } catch (error) { console.warn("outbox:", error); }
  if (state !== mine) return p;        // signed out meanwhile: it waits in the outbox
  // The conversation may have been redrawn meanwhile, with this bubble already in it.
  if (item.channel_id === state.current && !p.li) {
    p.li = document.createElement("li");
    $("messages").append(p.li);
  }
  transmit(p);
  return p;
}

function transmit(p) {
  const frame = { type: "send", ref: p.item.client_id, channel_id: p.item.channel_id,
                  client_id: p.item.client_id, body: p.item.body };
  for (const key of ["reply_to", "mentions", "attachment_id"]) if (p.item[key] != null) frame[key] = p.item[key];
  p.state = send(frame) ? "sending" : "queued";
  drawPending(p);
}

function drawPending(p) {
  if (!p.li) return;
  const m = { ...p.item, id: null, seq: null, sender_id: state.me.id, created_at: new Date(p.item.created_at).toISOString(),
              reply_to: p.item.reply_to ? quoteOf(p.item.reply_to) : null };
  fillMessage(p.li, m, uiFor(m, p.state));
  p.li.dataset.clientId = p.item.client_id;
  p.li.scrollIntoView({ block: "end" });
}

function quoteOf(messageId) {
  for (const m of state.messages.values()) {
    if (m.id === messageId) return { id: m.id, sender_id: m.sender_id, excerpt: excerpt(m) };
  }
  return { id: messageId, sender_id: null, excerpt: "" };
}

/** The server stored it (ack, or our own message arriving): the bubble becomes the message. */
function settlePending(m) {
  if (!m.client_id || m.sender_id !== state.me.id) return;
  const p = state.pending.get(m.client_id);
  if (!p) return;
  state.pending.delete(m.client_id);
  if (p.li) p.li.remove();
  outbox.remove(m.client_id).catch(() => {});
}

function markUnsentAsQueued() {
  if (!state) return;
  for (const p of state.pending.values()) if (p.state === "sending") { p.state = "queued"; drawPending(p); }
}

async function flushOutbox() {
  const mine = state;
  let waiting = [];
  try { waiting = await outbox.pending(state.me.id); } catch (error) { console.warn("outbox:", error); }
  if (state !== mine) return;
  for (const item of waiting) {
    if (!state.pending.has(item.client_id)) {
      const p = { item, li: null, state: "queued" };
      state.pending.set(item.client_id, p);
      if (item.channel_id === state.current) { p.li = document.createElement("li"); $("messages").append(p.li); }
    }
  }
  for (const p of state.pending.values()) if (p.state !== "failed") transmit(p);
}

function retry(clientId) {
  const p = state.pending.get(clientId);
  if (!p) return;
  outbox.put(p.item).catch(() => {});
  transmit(p);
}

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("body");
  const text = input.value;
  if (!state || !state.me || !text.trim() || !state.current) return;
  const fields = { channel_id: state.current, body: text };
  if (state.replyTo) fields.reply_to = state.replyTo.id;
  const mentions = mentionsIn(text);
  if (mentions.length) fields.mentions = mentions;
  input.value = "";
  setReply(null);
  queueMessage(fields).catch(showChatError);
});

// Enter sends; Shift+Enter (or the IME's own Enter while composing kana) makes a new line.
$("body").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("composer").requestSubmit();
  }
});

$("body").addEventListener("input", () => {
  if (state && state.current) send({ type: "typing", channel_id: state.current });
});

/** @名前 of channel members in the text → their user ids. */
function mentionsIn(text) {
  if (!text.includes("@")) return [];
  const ids = [];
  for (const u of state.users.values()) {
    if (u.id !== state.me.id && (text.includes(`@${u.name}`) || text.includes(`@${u.name.split(" ")[0]}`))) ids.push(u.id);
  }
  return ids.slice(0, 50);
}

function setReply(m) {
  if (!state) return;
  state.replyTo = m;
  $("reply-bar").hidden = !m;
  $("reply-text").textContent = m ? t("chat.replying", { name: uiFor(m).userName(m.sender_id), text: excerpt(m) }) : "";
}
$("reply-cancel").addEventListener("click", () => setReply(null));

document.addEventListener("visibilitychange", markRead);

// --- long press: the action sheet --------------------------------------------------------------

function wireLongPress(li) {
  let timer = null;
  let fired = false;
  const start = () => {
    fired = false;
    timer = setTimeout(() => { timer = null; fired = true; openActions(li); }, LONG_PRESS_MS);
  };
  // The finger lifting after a long press is not also a tap (on a photo, a card button).
  li.addEventListener("click", (ev) => {
    if (fired) { ev.stopPropagation(); ev.preventDefault(); fired = false; }
  }, true);
  const cancel = () => { clearTimeout(timer); timer = null; };
  li.addEventListener("pointerdown", (ev) => { if (ev.button === 0) start(); });
  for (const type of ["pointerup", "pointerleave", "pointercancel", "pointermove"]) li.addEventListener(type, cancel);
  li.addEventListener("contextmenu", (ev) => { ev.preventDefault(); cancel(); openActions(li); });
  li.tabIndex = 0;
  li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" && ev.target === li) openActions(li); });
}

function openActions(li) {
  const m = state.messages.get(Number(li.dataset.seq));
  if (!m || !m.id) return;
  const mine = m.sender_id === state.me.id;
  const live = !m.deleted_at && !m.purged_at;
  const buttons = [];
  if (live) buttons.push([t("act.reply"), () => { setReply(m); $("body").focus(); }]);
  if (live) buttons.push([t("act.react"), () => openStamps(m)]);
  if (live && m.body) buttons.push([t("act.copy"), () => navigator.clipboard && navigator.clipboard.writeText(m.body)]);
  if (live && mine && m.kind === "text") buttons.push([t("act.edit"), () => editMessage(m)]);
  if (live && mine) buttons.push([t("act.delete"), () => confirmDelete(m)]);
  if (live) buttons.push([m.pinned_at ? t("act.unpin") : t("act.pin"),
                          () => send({ type: m.pinned_at ? "unpin" : "pin", message_id: m.id })]);
  if (mine || state.channels.get(m.channel_id)?.kind === "announcement") {
    buttons.push([t("announce.readers"), () => showReaders(m).catch(showChatError)]);
  }
  openSheet(t("act.title"), buttons.map(([label, run]) => sheetButton(label, () => { closeSheet(); run(); })));
}

function openStamps(m) {
  const row = document.createElement("div");
  row.className = "stamps";
  for (const emoji of STAMPS) {
    row.append(sheetButton(emoji, () => { closeSheet(); react(m, emoji, false); }));
  }
  openSheet(t("act.react"), [row]);
}

function react(m, emoji, mineToo) {
  send({ type: mineToo ? "unreact" : "react", message_id: m.id, emoji });
}

function editMessage(m) {
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
    if (text.trim() && text !== m.body) send({ type: "edit", message_id: m.id, body: text });
    closeSheet();
  });
  openSheet(t("act.edit"), [form]);
}

function confirmDelete(m) {
  openSheet(t("act.delete_confirm"), [sheetButton(t("act.delete"), () => {
    closeSheet();
    send({ type: "delete", message_id: m.id });
  })]);
}

async function showReaders(m) {
  const r = await apiFetch(`/api/messages/${m.id}/readers`);
  const section = (label, people) => {
    const wrap = document.createElement("div");
    const h = document.createElement("h4");
    h.textContent = `${label}（${people.length}）`;
    const ul = document.createElement("ul");
    for (const p of people) { const li = document.createElement("li"); li.textContent = p.name; ul.append(li); }
    wrap.append(h, ul);
    return wrap;
  };
  openSheet(t("announce.readers"), [section(t("readers.confirmed"), r.confirmed || []),
                                    section(t("readers.read"), r.read), section(t("readers.unread"), r.unread)]);
}

async function loadPins() {
  const id = state.current;
  let pins = [];
  try { pins = (await apiFetch(`/api/channels/${id}/pins`)).messages || []; } catch { pins = []; }
  if (!state || state.current !== id) return;
  const bar = $("pinned-bar");
  bar.hidden = !pins.length;
  bar.textContent = pins.length ? `📌 ${excerpt(pins[pins.length - 1])}` : "";
}
$("pins-button").addEventListener("click", async () => {
  const pins = (await apiFetch(`/api/channels/${state.current}/pins`).catch(() => ({ messages: [] }))).messages || [];
  const items = pins.map((m) => { const p = document.createElement("p"); p.textContent = `${uiFor(m).userName(m.sender_id)}：${excerpt(m)}`; return p; });
  if (!items.length) { const p = document.createElement("p"); p.textContent = t("pins.none"); items.push(p); }
  openSheet(t("chat.pins"), items);
});

$("mute-button").addEventListener("click", async () => {
  const c = state && state.channels.get(state.current);
  if (!c) return;
  const muted = !c.muted;
  try {
    await apiFetch(`/api/channels/${c.id}/mute`, { method: "PUT", body: { muted } });
    c.muted = muted;
    $("mute-button").setAttribute("aria-pressed", String(muted));
    $("mute-button").textContent = muted ? "🔕" : "🔔";
    renderChannels();
  } catch (error) { showChatError(error); }
});

async function noticeAction(m, action) {
  try {
    const r = await apiFetch(`/api/notices/${m.id}/${action}`, { method: "POST", body: {} });
    if (r && r.message) onUpdated(r.message);
  } catch (error) {
    if (error instanceof ApiError && error.status === 409) {
      $("chat-error").textContent = error.messageJa || error.message;
      return;
    }
    throw error;
  }
}

// --- sheets ---------------------------------------------------------------------------------

function sheetButton(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function openSheet(title, children) {
  $("sheet-title").textContent = title;
  $("sheet-content").replaceChildren(...children);
  $("sheet").hidden = false;
  const first = $("sheet-content").querySelector("button, input, textarea, select");
  (first || $("sheet-close")).focus();
}

function closeSheet() {
  $("sheet").hidden = true;
  $("sheet-content").replaceChildren();
}
$("sheet-close").addEventListener("click", closeSheet);
$("sheet").addEventListener("click", (ev) => { if (ev.target === $("sheet")) closeSheet(); });
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") { closeSheet(); $("viewer").hidden = true; }
});

// --- photos and location ----------------------------------------------------------------------

$("photo-input").addEventListener("change", () => {
  const file = $("photo-input").files[0];
  if (!file || !state) return;
  if (state.photo) URL.revokeObjectURL(state.photo.preview);
  state.photo = { file, preview: URL.createObjectURL(file) };
  $("photo-preview").src = state.photo.preview;
  $("photo-preview").alt = file.name;
  $("photo-status").textContent = "";
  $("photo-bar").hidden = false;
});

function clearPhoto() {
  if (state && state.photo) URL.revokeObjectURL(state.photo.preview);
  if (state) state.photo = null;
  $("photo-input").value = "";
  $("photo-bar").hidden = true;
}
$("photo-cancel").addEventListener("click", clearPhoto);

function currentPosition() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) { resolve(null); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
      () => resolve(null), { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 });
  });
}

$("photo-send").addEventListener("click", async () => {
  if (!state || !state.photo || !state.current) return;
  const button = $("photo-send");
  button.disabled = true;
  $("photo-status").textContent = t("photo.uploading");
  try {
    const params = new URLSearchParams();
    if ($("share-location").checked) {
      params.set("share_location", "1");
      const where = await currentPosition();
      if (where) { params.set("lat", String(where.lat)); params.set("lon", String(where.lon)); }
    }
    const result = await apiUpload(`/api/channels/${state.current}/attachments?${params}`, state.photo.file);
    const fields = { channel_id: state.current, body: $("body").value.trim(), attachment_id: result.attachment.id };
    $("body").value = "";
    clearPhoto();
    await queueMessage(fields);
  } catch (error) {
    $("photo-status").textContent = (error && (error.messageJa || error.message)) || String(error);
  } finally {
    button.disabled = false;
  }
});

async function openPhoto(m) {
  const img = $("viewer-image");
  img.removeAttribute("src");
  img.alt = t("photo.alt");
  const loc = m.attachment.location;
  $("viewer-location").textContent = loc ? `📍 ${loc.lat}, ${loc.lon}` : "";
  $("viewer").hidden = false;
  $("viewer-close").focus();
  await loadImage(m.attachment.url, img);
}
$("viewer-close").addEventListener("click", () => { $("viewer").hidden = true; });

// --- search ---------------------------------------------------------------------------------

$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = $("search-input").value.trim();
  if (!q || !state) return;
  $("search-status").textContent = t("search.searching");
  try {
    const r = await apiFetch(`/api/search/messages?q=${encodeURIComponent(q)}&limit=50`);
    const list = $("search-results");
    list.replaceChildren();
    for (const hit of r.results) {
      const li = document.createElement("li");
      const head = document.createElement("span");
      head.textContent = `${hit.channel_name}・${(state.users.get(hit.sender_id) || {}).name || t("chat.system")}`;
      const when = document.createElement("span");
      when.className = "sub";
      when.textContent = new Date(hit.created_at).toLocaleString(undefined, { timeZone: "Asia/Tokyo" });
      const body = document.createElement("span");
      body.className = "hit";
      body.textContent = hit.body;
      const open = document.createElement("button");
      open.type = "button";
      open.className = "open";
      open.textContent = t("search.open");
      open.addEventListener("click", () => openChannel(hit.channel_id).catch(showChatError));
      li.append(head, open, when, body);
      list.append(li);
    }
    $("search-status").textContent = t("search.count", { n: r.results.length });
  } catch (error) {
    $("search-status").textContent = (error && (error.messageJa || error.message)) || String(error);
  }
});

// --- the directory (電話帳): extension, presence, a tel: button, memos for operators --------

function renderDirectory() {
  if (!state || !state.me) return;
  const q = $("directory-input").value.trim().toLowerCase();
  const list = $("directory-list");
  list.replaceChildren();
  const people = [...state.users.values()].filter((u) => !q || [u.name, u.kana, u.extension, u.department]
    .some((v) => v && String(v).toLowerCase().includes(q)));
  for (const u of people) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = u.name;
    const p = presenceOf(u.id);
    if (p) name.append(" ", presenceMark(p));
    const sub = document.createElement("span");
    sub.className = "sub";
    sub.textContent = [u.department, u.extension ? t("directory.ext", { ext: u.extension }) : ""].filter(Boolean).join("・");
    li.append(name);
    if (u.extension) {
      const call = document.createElement("a");
      call.className = "call";
      call.href = `tel:${u.extension}`;
      call.textContent = t("directory.call");
      call.setAttribute("aria-label", t("directory.call_label", { name: u.name, ext: u.extension }));
      li.append(call);
    }
    li.append(sub);
    const actions = document.createElement("span");
    actions.className = "sub";
    if (u.id !== state.me.id) {
      actions.append(sheetButton(t("directory.message"), () => openDirect(u.id).catch(showChatError)));
      if (["operator", "admin"].includes(state.me.role)) {
        actions.append(" ", sheetButton(t("memo.button"), () => openMemoForm(u)));
      }
    }
    li.append(actions);
    list.append(li);
  }
}
$("directory-input").addEventListener("input", renderDirectory);

function openGroupForm() {
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
    const q = filter.value.trim().toLowerCase();
    list.replaceChildren(legend);
    for (const u of people) {
      if (q && ![u.name, u.kana, u.department].some((v) => v && String(v).toLowerCase().includes(q))) continue;
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
      await openChannel(c.id);
    } catch (error) {
      status.textContent = (error && (error.messageJa || error.message)) || String(error);
    }
  });
  openSheet(t("group.title"), [form]);
}
$("new-group").addEventListener("click", () => { if (state && state.me) openGroupForm(); });

async function openDirect(userId) {
  const c = await apiFetch("/api/channels/direct", { method: "POST", body: { user_id: userId } });
  if (!state.channels.has(c.id)) state.channels.set(c.id, { unread: 0, last_message: null, ...c });
  await openChannel(c.id);
}

function openMemoForm(user) {
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
  for (const a of ["call_back", "will_call_again", "message"]) {
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
      status.textContent = (error && (error.messageJa || error.message)) || String(error);
    }
  });
  openSheet(t("memo.title", { name: user.name }), [form]);
}
