// The client's state and one reducer per server frame (docs/protocol.md). Pure: no DOM,
// no socket, no clock, no globals; importable by Node (`node --test tests/client/`).
//
// A reducer takes the state and a frame, changes the state, and returns the effects the
// views and the connection must carry out, as plain data (the sans-I/O shape of the
// server's protocol core):
//   {kind: "channels"}              redraw the channel list
//   {kind: "presence"}              redraw presence marks (list, directory, header)
//   {kind: "directory"}             redraw the directory
//   {kind: "me"}                    the signed-in person is known (header, settings, banner)
//   {kind: "append", message}       a new message at the end of the conversation
//   {kind: "update", message}       redraw one message of the conversation
//   {kind: "readCounts"}            redraw 既読 on one's own messages
//   {kind: "typing", userId}        someone is typing (userId null: redraw only); {kind: "pins"}
//   {kind: "pending", clientId}     redraw a message that is not stored yet
//   {kind: "settled", clientId}     the server stored it: drop its bubble and outbox entry
//   {kind: "forget", clientId}      refused for good: drop it from the outbox
//   {kind: "resendLater", clientId, frame, attempt}  not stored for now (a fault): resend later
//   {kind: "send", frame}           send a frame if connected
//   {kind: "markRead"}              tell the server what is read, if the page is seen
//   {kind: "flushOutbox"}           send everything waiting in the outbox again
//   {kind: "mention", message}      someone mentioned me elsewhere
//   {kind: "error", frame}          show the server's error
//   {kind: "broadcast", message, repeat}  an urgent broadcast (緊急放送) to open full screen
//   {kind: "confirmCount", messageId, count}  how many confirmed it (the sender's count)
//   {kind: "disaster"}              redraw the disaster banner and its settings panel
//   {kind: "rollcallTally", id}     a roll call's tally changed (HQ's sheet)

import { sendFailed } from "./faults.js";

/** A fresh state: nothing known until `ready`. */
export function createState() {
  return {
    me: null,
    users: new Map(),               // id -> person, from the directory
    departments: new Map(),         // id -> department
    online: new Set(),              // user ids
    calls: new Map(),               // user id -> "ringing" | "on_call"
    channels: new Map(),            // id -> channel summary (+ unread, last_message)
    current: null,                  // the channel on screen
    messages: new Map(),            // seq -> message, of the current channel only
    lastSeq: 0, lastVersion: 0,     // what the conversation has: resync from here
    hasMore: false,                 // older messages exist before the first one shown
    readPositions: new Map(),       // user id -> last read seq, in the current channel
    pending: new Map(),             // client id -> {item, state: queued|sending|failed, error}
    typing: new Map(),              // user id -> true, the latest typist last
    replyTo: null,                  // the message being answered
    photo: null,                    // {file, preview} chosen, not yet sent
    view: "chats",                  // chats | conversation | search | directory | settings
    confirmedBroadcasts: new Set(), // ids of urgent broadcasts confirmed here (no full screen)
    disaster: null,                 // the declared disaster or drill ({title, drill…}), if any
    rollcalls: new Map(),           // roll call id -> {rollcall, mine, may_manage} (+ draft)
    rollcallTallies: new Map(),     // roll call id -> its latest tally (HQ)
  };
}

/** Apply one server frame; returns the effects (see above). Unknown types change nothing. */
export function reduce(state, frame) {
  const reducer = Object.hasOwn(reducers, frame.type) ? reducers[frame.type] : null;
  return reducer ? reducer(state, frame) : [];
}

/** The frame that fetches what the current conversation missed (after a gap, a reconnect). */
export function resyncFrame(state, { afterSeq = state.lastSeq, afterVersion = state.lastVersion } = {}) {
  const frame = { type: "resync", channel_id: state.current, after_seq: afterSeq };
  if (afterVersion != null) frame.after_version = afterVersion;
  return frame;
}

export const reducers = {
  ready(state, f) {
    state.me = f.user;
    state.online = new Set(f.online_user_ids);
    state.calls = new Map((f.call_presence || []).map((p) => [p.user_id, p.status]));
    state.channels = new Map(f.channels.map((c) => [c.id, c]));
    state.disaster = f.disaster || null;
    // "me" redraws the banner too: what ready says is declared, or nothing.
    const effects = [{ kind: "me" }, { kind: "channels" }, { kind: "directory" }];
    if (state.current && state.channels.has(state.current)) {
      effects.push({ kind: "send", frame: resyncFrame(state) });
    }
    effects.push({ kind: "flushOutbox" });
    return effects;
  },

  message(state, f) {
    return [...urgentBroadcast(state, f.message), ...newMessage(state, f)];
  },

  "message.updated"(state, f) {
    return updated(state, f.message);
  },

  ack(state, f) {
    const m = f.message;
    const effects = settle(state, m);
    if (m.channel_id === state.current) effects.push(...append(state, m));
    const c = state.channels.get(m.channel_id);
    if (c) { c.last_message = m; effects.push({ kind: "channels" }); }
    return effects;
  },

  // Answers that need nothing on screen: a stamp, pin or edit taken (its broadcast
  // follows), a read position stored, the heartbeat's answer.
  ok() {
    return [];
  },

  "read.ok"() {
    return [];
  },

  pong() {
    return [];
  },

  "resync.result"(state, f) {
    if (f.channel_id !== state.current) return [];
    const effects = [];
    for (const m of f.messages) effects.push(...settle(state, m), ...append(state, m));
    for (const m of f.updated) effects.push(...updated(state, m));
    if (f.limited) {
      effects.push({ kind: "send", frame: resyncFrame(state, { afterSeq: f.next_seq, afterVersion: f.next_version }) });
    } else effects.push({ kind: "markRead" });
    return effects;
  },

  read(state, f) {
    if (f.channel_id !== state.current) return [];
    state.readPositions.set(f.user_id, f.seq);
    return [{ kind: "readCounts" }];
  },

  typing(state, f) {
    if (f.channel_id !== state.current || f.user_id === state.me.id) return [];
    state.typing.delete(f.user_id);      // the latest typist is named, so it goes last
    state.typing.set(f.user_id, true);
    return [{ kind: "typing", userId: f.user_id }];
  },

  presence(state, f) {
    if (f.status === "online") state.online.add(f.user_id); else state.online.delete(f.user_id);
    return [{ kind: "presence" }];
  },

  "presence.batch"(state, f) {
    for (const id of f.online) state.online.add(id);
    for (const id of f.offline) state.online.delete(id);
    return [{ kind: "presence" }];
  },

  "call.presence"(state, f) {
    if (f.status === "idle") state.calls.delete(f.user_id); else state.calls.set(f.user_id, f.status);
    return [{ kind: "presence" }];
  },

  "channel.joined"(state, f) {
    // A channel made for us may already hold what it was made for (a call notice).
    state.channels.set(f.channel.id, {
      last_message: null, ...f.channel,
      unread: Math.max(0, (f.channel.last_seq || 0) - (f.channel.last_read_seq || 0)) });
    return [{ kind: "channels" }];
  },

  "channel.left"(state, f) {
    state.channels.delete(f.channel_id);
    return [{ kind: "channels" }];
  },

  "reaction.updated"(state, f) {
    return patch(state, f.channel_id, f.message_id, { reactions: f.reactions });
  },

  "pin.updated"(state, f) {
    const effects = patch(state, f.channel_id, f.message_id, { pinned_at: f.pinned_at });
    if (f.channel_id === state.current) effects.push({ kind: "pins" });
    return effects;
  },

  "confirm.updated"(state, f) {
    return [{ kind: "confirmCount", messageId: f.message_id, count: f.confirmed_count }];
  },

  mention(state, f) {
    const m = f.message;
    if (m.channel_id === state.current && state.view === "conversation") return [];
    return [{ kind: "mention", message: m }];
  },

  "resync.required"(state) {
    return state.current ? [{ kind: "send", frame: resyncFrame(state) }] : [];
  },

  "rollcall.tally"(state, f) {
    const id = f.tally.rollcall.id;
    state.rollcallTallies.set(id, f.tally);
    const known = state.rollcalls.get(id);
    if (known) known.rollcall = f.tally.rollcall;
    return [{ kind: "rollcallTally", id }];
  },

  // The node is restarting (close 1012 follows): connection.js reconnects, nothing changes.
  "server.restarting"() { return []; },

  error(state, f) {
    const pending = f.ref != null ? state.pending.get(f.ref) : null;
    return pending ? sendFailed(pending, f) : [{ kind: "error", frame: f }];
  },

  // 緊急放送 again, to those who have not confirmed it (chat/actions/broadcast.py).
  "broadcast.repeated"(state, f) {
    return urgentBroadcast(state, f.message, f.repeat);
  },
  // A declaration (disaster set) or its end (ended set): the banner follows at once.
  "disaster.changed"(state, f) {
    if (f.disaster) state.disaster = f.disaster;
    else if (!state.disaster || !f.ended || state.disaster.id === f.ended.id) state.disaster = null;
    return [{ kind: "disaster" }];
  },
};

// --- what frames share ----------------------------------------------------------------

function append(state, m) {
  if (state.messages.has(m.seq)) return [];
  state.messages.set(m.seq, m);
  state.lastSeq = Math.max(state.lastSeq, m.seq);
  state.lastVersion = Math.max(state.lastVersion, m.version);
  return [{ kind: "append", message: m }];
}

function updated(state, m) {
  const effects = [];
  const c = state.channels.get(m.channel_id);
  if (c && c.last_message && c.last_message.id === m.id) {
    c.last_message = m;
    effects.push({ kind: "channels" });
  }
  if (m.channel_id !== state.current) return effects;
  state.lastVersion = Math.max(state.lastVersion, m.version);
  state.messages.set(m.seq, m);
  effects.push({ kind: "update", message: m });
  return effects;
}

function patch(state, channelId, messageId, fields) {
  if (channelId !== state.current) return [];
  for (const m of state.messages.values()) {
    if (m.id === messageId) return updated(state, { ...m, ...fields });
  }
  return [];
}

/** The server stored one of mine (ack, or my own message arriving): it is no longer pending. */
function settle(state, m) {
  if (!m.client_id || !state.me || m.sender_id !== state.me.id) return [];
  if (!state.pending.has(m.client_id)) return [];
  state.pending.delete(m.client_id);
  return [{ kind: "settled", clientId: m.client_id }];
}

// --- what the person does (not frames) ------------------------------------------------------
/** A new message in a channel (the `message` frame, urgent or not). */
function newMessage(state, f) {
  const m = f.message;
  const c = state.channels.get(m.channel_id);
  if (c) {
    c.last_message = m;
    if (m.seq > (c.last_seq || 0)) {
      c.last_seq = m.seq;
      const seen = m.channel_id === state.current && state.view === "conversation";
      if (m.sender_id !== state.me.id && !seen) c.unread = (c.unread || 0) + 1;
    }
  }
  if (m.channel_id !== state.current) return [{ kind: "channels" }];
  if (m.seq <= state.lastSeq && state.messages.has(m.seq)) return [];
  if (m.seq > state.lastSeq + 1) {     // a gap: fetch what is missing, in order
    return [{ kind: "send", frame: resyncFrame(state, { afterVersion: null }) }];
  }
  return [...settle(state, m), ...append(state, m), ...typingEnded(state, m.sender_id),
          { kind: "markRead" }, { kind: "channels" }];
}

/**
 * An urgent broadcast someone else sent (its card says `broadcast`), not yet confirmed
 * here: the phone opens it full screen, muted channel or not. History and resync never
 * open it; a repeat (`broadcast.repeated`) opens it again.
 */
function urgentBroadcast(state, m, repeat = 0) {
  const urgent = m && m.data && m.data.broadcast === true && !m.deleted_at;
  if (!urgent || (state.me && m.sender_id === state.me.id) || state.confirmedBroadcasts.has(m.id)) return [];
  return [{ kind: "broadcast", message: m, repeat }];
}

/** Broadcasts not yet confirmed when the page connected (GET /api/broadcast/unconfirmed). */
export function broadcastsMissed(state, messages) {
  return messages.flatMap((m) => urgentBroadcast(state, m));
}

/** The person tapped 確認しました on an urgent broadcast: confirm it, and open it no more. */
export function confirmBroadcast(state, messageId) {
  state.confirmedBroadcasts.add(messageId);
  return [{ kind: "send", frame: { type: "confirm", message_id: messageId } }];
}

/** Someone stopped typing (their message arrived, or the indicator timed out). */
export function typingEnded(state, userId) {
  if (!state.typing.delete(userId)) return [];
  return [{ kind: "typing", userId: null }];
}

/** A channel is opened: the conversation starts empty until its history arrives. */
export function enterChannel(state, channelId) {
  state.current = channelId;
  state.messages = new Map();
  state.typing = new Map();
  state.replyTo = null;
}

/** Back to the list (‹, a tab): no conversation is open, so what arrives counts as unread. */
export function leaveChannel(state) {
  enterChannel(state, null);
  Object.assign(state, { lastSeq: 0, lastVersion: 0, hasMore: false, readPositions: new Map() });
}

/** The newest page of the current channel's history (GET /api/channels/{id}/messages). */
export function historyLoaded(state, page) {
  state.lastVersion = page.last_version;
  state.hasMore = page.has_more;
  state.readPositions = new Map(Object.entries(page.read_positions).map(([u, s]) => [Number(u), s]));
  for (const m of page.messages) state.messages.set(m.seq, m);
  state.lastSeq = Math.max(page.last_seq, ...page.messages.map((m) => m.seq), 0);
  const channel = state.channels.get(state.current);
  if (channel) channel.unread = 0;
}

/** An older page (before_seq): prepended; lastSeq does not move. */
export function olderLoaded(state, page) {
  for (const m of page.messages) state.messages.set(m.seq, m);
  state.hasMore = page.has_more;
}

/** The seq older history is fetched before. */
export function firstSeq(state) {
  return Math.min(...state.messages.keys());
}

/** The `read` frame for what is on screen, or null when there is nothing to report. */
export function readFrame(state) {
  if (!state.current || state.lastSeq <= 0 || state.view !== "conversation") return null;
  return { type: "read", channel_id: state.current, seq: state.lastSeq };
}

/** A typed message (or photo) gets its client id and waits as "queued" until sent. */
export function addPending(state, item) {
  const p = { item, state: "queued", error: null };
  state.pending.set(item.client_id, p);
  return p;
}

/** Outbox items of a previous page or connection that this state does not know yet. */
export function adoptOutbox(state, items) {
  for (const item of items) if (!state.pending.has(item.client_id)) addPending(state, item);
}

/** The `send` frame for a pending message: the same client id every time it is sent. */
export function sendFrame(item) {
  const frame = { type: "send", ref: item.client_id, channel_id: item.channel_id,
                  client_id: item.client_id, body: item.body };
  for (const key of ["reply_to", "mentions", "attachment_id"]) if (item[key] != null) frame[key] = item[key];
  return frame;
}

/** The connection dropped: what was "sending" may not have arrived, so it is "queued". */
export function connectionLost(state) {
  const effects = [];
  for (const [clientId, p] of state.pending) {
    if (p.state === "sending") { p.state = "queued"; effects.push({ kind: "pending", clientId }); }
  }
  return effects;
}

/** A roll call as the card shows it (GET /api/rollcalls/{id}): the roll call, my answer, HQ. */
export function rollcallLoaded(state, id, info) {
  const known = state.rollcalls.get(id) || {};
  state.rollcalls.set(id, { ...known, ...info, editing: false });
}

/** My answer was stored: the card shows it (and no longer the buttons). */
export function rollcallAnswered(state, id, answer) {
  const known = state.rollcalls.get(id);
  if (!known) return;
  known.mine = answer;
  known.editing = false;
  known.draftNote = undefined;
  known.position = undefined;
}
