// The chat on screen: websocket loop (hello -> auth -> ready), channels, history,
// sending, live delivery, 既読, typing, presence, heartbeats, resync after reconnect
// (docs/protocol.md). Messages are always rendered with textContent, never as HTML.

import { t } from "./i18n.js";
import { apiFetch, wsAuthFrame, wsUrl } from "./session.js";

// Close codes the server uses (chat/protocol.py).
const CLOSE_POLICY = 1008;
const CLOSE_SESSION_ENDED = 4002;
const CLOSE_OFF_HOURS = 4003;

const $ = (id) => document.getElementById(id);

let handlers = null;   // {onSessionEnded(frame), onOffHours(frame), onAuthFailed(frame)}
let state = null;

function freshState() {
  return {
    me: null, ws: null, backoff: 500, reconnectTimer: null, heartbeat: null,
    users: new Map(), online: new Set(),
    channels: new Map(),            // id -> channel summary
    current: null,                  // channel id on screen
    messages: new Map(),            // seq -> message, for the current channel
    lastSeq: 0, lastVersion: 0, readPositions: new Map(),
    pending: new Map(),             // client_id -> li element
    typingTimers: new Map(),
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
  const dir = await apiFetch("/api/users?limit=200");
  if (state !== mine) return;            // stopped meanwhile
  for (const u of dir.users) state.users.set(u.id, u);
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
  if (old.ws) old.ws.close(1000, "signed out");
  $("channel-list").replaceChildren();
  $("messages").replaceChildren();
  $("channel-title").textContent = "";
  $("typing").textContent = "";
  $("me").textContent = "";
  setConn("offline");
}

/** Re-render text that depends on the language. */
export function relabelChat() {
  if (!state) return;
  setConn(state.ws && state.me && state.ws.readyState === WebSocket.OPEN ? "online" : "offline");
  renderChannels();
  for (const li of $("messages").children) {
    const m = state.messages.get(Number(li.dataset.seq));
    if (m) fillMessage(li, m);
  }
}

function connect() {
  const mine = state;
  const ws = new WebSocket(wsUrl());
  let ready = false;
  let lastError = null;
  state.ws = ws;
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
    if (f.type === "ready") ready = true;
    onFrame(f);
  });
  ws.addEventListener("close", (ev) => {
    if (state !== mine || mine.ws !== ws) return;    // stopped, or replaced
    clearInterval(mine.heartbeat);
    setConn("reconnecting");
    if (ev.code === CLOSE_SESSION_ENDED) { handlers.onSessionEnded(lastError); return; }
    if (ev.code === CLOSE_OFF_HOURS) { handlers.onOffHours(lastError); return; }
    if (ev.code === CLOSE_POLICY && !ready) { handlers.onAuthFailed(lastError); return; }
    mine.reconnectTimer = setTimeout(connect, mine.backoff);
    mine.backoff = Math.min(mine.backoff * 2, 15000);
  });
}

function send(frame) {
  if (state && state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

function setConn(mode) {
  $("conn").dataset.state = mode === "online" ? "online" : "offline";
  $("conn").textContent = t(`conn.${mode}`);
}

function onFrame(f) {
  switch (f.type) {
    case "ready":
      state.me = f.user; state.backoff = 500; setConn("online");
      $("me").textContent = f.user.name;
      state.online = new Set(f.online_user_ids);
      state.channels = new Map(f.channels.map((c) => [c.id, c]));
      clearInterval(state.heartbeat);
      state.heartbeat = setInterval(() => send({ type: "ping" }),
                                    (f.heartbeat_seconds || 30) * 1000);
      renderChannels();
      if (state.current && state.channels.has(state.current)) {
        send({ type: "resync", channel_id: state.current, after_seq: state.lastSeq,
               after_version: state.lastVersion });
      } else if (f.channels.length) {
        openChannel(f.channels[0].id);
      }
      break;
    case "message": onMessage(f.message); break;
    case "message.updated": onUpdated(f.message); break;
    case "ack": onAck(f); break;
    case "resync.result": onResync(f); break;
    case "read":
      if (f.channel_id === state.current) { state.readPositions.set(f.user_id, f.seq); renderReadCounts(); }
      break;
    case "typing": onTyping(f); break;
    case "presence":
      if (f.status === "online") state.online.add(f.user_id); else state.online.delete(f.user_id);
      break;
    case "channel.joined":
      state.channels.set(f.channel.id, { ...f.channel, unread: f.channel.last_seq });
      renderChannels(); break;
    case "channel.left":
      state.channels.delete(f.channel_id); renderChannels(); break;
    case "resync.required":
      if (state.current) send({ type: "resync", channel_id: state.current, after_seq: state.lastSeq });
      break;
    case "error":
      $("chat-error").textContent = `${f.message_ja || f.message} (${f.code})`;
      break;
  }
}

function renderChannels() {
  const list = $("channel-list");
  list.replaceChildren();
  for (const c of state.channels.values()) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.channelId = c.id;
    b.textContent = c.name;
    if (c.id === state.current) b.setAttribute("aria-current", "true");
    if (c.unread > 0 && c.id !== state.current) {
      const badge = document.createElement("span");
      badge.className = "unread";
      badge.textContent = c.unread;
      badge.setAttribute("aria-label", t("chat.unread", { n: c.unread }));
      b.append(badge);
    }
    b.addEventListener("click", () => openChannel(c.id).catch(showChatError));
    li.append(b);
    list.append(li);
  }
}

function showChatError(error) {
  $("chat-error").textContent = error.message || String(error);
}

async function openChannel(id) {
  const mine = state;
  state.current = id;
  state.messages = new Map();
  state.pending = new Map();
  $("messages").replaceChildren();
  const channel = state.channels.get(id);
  $("channel-title").textContent = channel ? channel.name : "";
  const page = await apiFetch(`/api/channels/${id}/messages?limit=50`);
  if (state !== mine || state.current !== id) return;
  state.lastSeq = 0;
  state.lastVersion = page.last_version;
  state.readPositions = new Map(Object.entries(page.read_positions).map(([u, s]) => [Number(u), s]));
  for (const m of page.messages) appendMessage(m);
  state.lastSeq = Math.max(state.lastSeq, page.last_seq);
  if (channel) channel.unread = 0;
  renderChannels();
  markRead();
}

function markRead() {
  if (state && state.current && state.lastSeq > 0 && document.visibilityState === "visible") {
    send({ type: "read", channel_id: state.current, seq: state.lastSeq });
  }
}

function appendMessage(m) {
  if (state.messages.has(m.seq)) return;
  state.messages.set(m.seq, m);
  state.lastSeq = Math.max(state.lastSeq, m.seq);
  state.lastVersion = Math.max(state.lastVersion, m.version);
  let li = state.pending.get(m.client_id);
  if (li && m.sender_id === state.me.id) state.pending.delete(m.client_id);
  else { li = document.createElement("li"); $("messages").append(li); }
  fillMessage(li, m);
  li.scrollIntoView({ block: "end" });
}

function fillMessage(li, m) {
  li.dataset.seq = m.seq;
  li.dataset.messageId = m.id;
  li.className = m.sender_id === state.me.id ? "mine" : "";
  const who = document.createElement("span");
  who.className = "who";
  const user = state.users.get(m.sender_id);
  who.textContent = user ? user.name : t("chat.system");
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = m.purged_at ? t("chat.purged") : m.deleted_at ? t("chat.deleted") : m.body;
  const meta = document.createElement("span");
  meta.className = "meta";
  li.replaceChildren(who, body, meta);
  if (m.edited_at && !m.deleted_at) meta.textContent = t("chat.edited");
  renderReadCount(li, m);
}

function renderReadCount(li, m) {
  if (m.sender_id !== state.me.id) return;
  let readers = 0;
  for (const [user, seq] of state.readPositions) if (user !== m.sender_id && seq >= m.seq) readers++;
  let badge = li.querySelector(".read");
  if (!badge) { badge = document.createElement("span"); badge.className = "meta read"; li.append(badge); }
  badge.textContent = readers > 0 ? t("chat.read", { n: readers }) : "";
}

function renderReadCounts() {
  for (const li of $("messages").children) {
    const m = state.messages.get(Number(li.dataset.seq));
    if (m) renderReadCount(li, m);
  }
}

function onMessage(m) {
  if (m.channel_id !== state.current) {
    const c = state.channels.get(m.channel_id);
    if (c && m.seq > c.last_seq) { c.last_seq = m.seq; if (m.sender_id !== state.me.id) c.unread += 1; renderChannels(); }
    return;
  }
  if (m.seq <= state.lastSeq && state.messages.has(m.seq)) return;
  if (m.seq > state.lastSeq + 1) {     // a gap: fetch what is missing, in order
    send({ type: "resync", channel_id: m.channel_id, after_seq: state.lastSeq });
    return;
  }
  appendMessage(m);
  clearTyping(m.sender_id);
  markRead();
}

function onUpdated(m) {
  if (m.channel_id !== state.current) return;
  state.lastVersion = Math.max(state.lastVersion, m.version);
  const li = $("messages").querySelector(`li[data-seq="${m.seq}"]`);
  if (li) { state.messages.set(m.seq, m); fillMessage(li, m); }
}

function onAck(f) {
  if (f.message.channel_id === state.current) appendMessage(f.message);
}

function onResync(f) {
  if (f.channel_id !== state.current) return;
  for (const m of f.messages) appendMessage(m);
  for (const m of f.updated) onUpdated(m);
  if (f.limited) send({ type: "resync", channel_id: f.channel_id, after_seq: f.next_seq });
  else markRead();
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

// The composer and the page's visibility outlive any one session: wire them once.
$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("body");
  const text = input.value;
  if (!state || !text.trim() || !state.current) return;
  const clientId = crypto.randomUUID();
  const li = document.createElement("li");
  li.className = "mine pending";
  li.textContent = `${text}${t("chat.sending")}`;
  $("messages").append(li);
  state.pending.set(clientId, li);
  send({ type: "send", channel_id: state.current, client_id: clientId, body: text });
  input.value = "";
});

$("body").addEventListener("input", () => {
  if (state && state.current) send({ type: "typing", channel_id: state.current });
});
document.addEventListener("visibilitychange", markRead);
