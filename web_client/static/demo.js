// Minimal chat page: proves the loop (sign in, channels, send, live delivery, 既読,
// typing, presence, resync after reconnect). The full smartphone client replaces it.
// Messages are always rendered with textContent, never as HTML.

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("tsunagu.token"),
  me: null, ws: null, backoff: 500,
  users: new Map(), online: new Set(),
  channels: new Map(),            // id -> channel summary
  current: null,                  // channel id on screen
  messages: new Map(),            // seq -> message, for the current channel
  lastSeq: 0, lastVersion: 0, readPositions: new Map(),
  pending: new Map(),             // client_id -> li element
  typingTimers: new Map(),
};

function api(path, options = {}) {
  const headers = { "Authorization": `Bearer ${state.token}`, ...(options.headers || {}) };
  return fetch(path, { ...options, headers }).then(async (r) => {
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    return body;
  });
}

async function loadDemoUsers() {
  if (document.body.dataset.demo !== "on") return;
  const r = await fetch("/dev/users");
  const body = await r.json();
  const select = $("who");
  for (const u of body.users) {
    const opt = document.createElement("option");
    opt.value = u.staff_number;
    opt.textContent = `${u.name}（${u.department || "—"}・${u.role}）`;
    select.append(opt);
  }
  $("signin-button").addEventListener("click", signIn);
}

async function signIn() {
  $("signin-error").textContent = "";
  const r = await fetch("/dev/session", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ staff_number: $("who").value }),
  });
  const body = await r.json();
  if (!r.ok) { $("signin-error").textContent = body.error.message; return; }
  state.token = body.token;
  sessionStorage.setItem("tsunagu.token", state.token);
  start();
}

async function start() {
  $("signin").hidden = true;
  $("chat").hidden = false;
  const dir = await api("/api/users?limit=200");
  for (const u of dir.users) state.users.set(u.id, u);
  connect();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  state.ws = ws;
  ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token: state.token })));
  ws.addEventListener("message", (ev) => onFrame(JSON.parse(ev.data)));
  ws.addEventListener("close", (ev) => {
    setConn(false);
    if (ev.code === 1008 && !state.me) {   // the session is not valid: sign in again
      sessionStorage.removeItem("tsunagu.token");
      location.reload();
      return;
    }
    setTimeout(connect, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 15000);
  });
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

function setConn(online) {
  $("conn").dataset.state = online ? "online" : "offline";
  $("conn").textContent = online ? "接続中" : "再接続中…";
}

function onFrame(f) {
  switch (f.type) {
    case "ready":
      state.me = f.user; state.backoff = 500; setConn(true);
      $("me").textContent = f.user.name;
      state.online = new Set(f.online_user_ids);
      state.channels = new Map(f.channels.map((c) => [c.id, c]));
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
    case "error": $("chat-error").textContent = `${f.message} (${f.code})`; break;
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
      badge.setAttribute("aria-label", `未読 ${c.unread}`);
      b.append(badge);
    }
    b.addEventListener("click", () => openChannel(c.id));
    li.append(b);
    list.append(li);
  }
}

async function openChannel(id) {
  state.current = id;
  state.messages = new Map();
  state.pending = new Map();
  $("messages").replaceChildren();
  const channel = state.channels.get(id);
  $("channel-title").textContent = channel ? channel.name : "";
  const page = await api(`/api/channels/${id}/messages?limit=50`);
  if (state.current !== id) return;
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
  if (state.current && state.lastSeq > 0 && document.visibilityState === "visible") {
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
  who.textContent = user ? user.name : "システム";
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = m.deleted_at ? "（削除されました）" : m.body;
  const meta = document.createElement("span");
  meta.className = "meta";
  li.replaceChildren(who, body, meta);
  if (m.edited_at && !m.deleted_at) meta.textContent = "（編集済）";
  renderReadCount(li, m);
}

function renderReadCount(li, m) {
  if (m.sender_id !== state.me.id) return;
  let readers = 0;
  for (const [user, seq] of state.readPositions) if (user !== m.sender_id && seq >= m.seq) readers++;
  let badge = li.querySelector(".read");
  if (!badge) { badge = document.createElement("span"); badge.className = "meta read"; li.append(badge); }
  badge.textContent = readers > 0 ? `既読 ${readers}` : "";
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
  $("typing").textContent = `${user ? user.name : "誰か"}さんが入力中…`;
  clearTimeout(state.typingTimers.get(f.user_id));
  state.typingTimers.set(f.user_id, setTimeout(() => clearTyping(f.user_id), 4000));
}

function clearTyping(userId) {
  clearTimeout(state.typingTimers.get(userId));
  state.typingTimers.delete(userId);
  if (!state.typingTimers.size) $("typing").textContent = "";
}

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const input = $("body");
  const text = input.value;
  if (!text.trim() || !state.current) return;
  const clientId = crypto.randomUUID();
  const li = document.createElement("li");
  li.className = "mine pending";
  li.textContent = `${text}（送信中）`;
  $("messages").append(li);
  state.pending.set(clientId, li);
  send({ type: "send", channel_id: state.current, client_id: clientId, body: text });
  input.value = "";
});

$("body").addEventListener("input", () => {
  if (state.current) send({ type: "typing", channel_id: state.current });
});
document.addEventListener("visibilitychange", markRead);

loadDemoUsers();
if (state.token) start();
