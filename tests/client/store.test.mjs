// The client's reducers, one server frame at a time, without a browser:
//   node --test tests/client/
// Each test starts from a state as `ready` leaves it and checks the state after the
// frame and the effects the views and the connection are asked to carry out.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  addPending, adoptOutbox, connectionLost, createState, enterChannel, historyLoaded, readFrame,
  reduce, reducers, sendFrame, typingEnded,
} from "../../web_client/static/store.js";

const ME = { id: 1, name: "鈴木 一郎", role: "staff" };

function message(seq, fields = {}) {
  return { id: 100 + seq, seq, version: seq, channel_id: 10, sender_id: 2, kind: "text",
           body: `本文${seq}`, created_at: "2026-12-07T01:00:00Z", ...fields };
}

function readyState({ current = 10, view = "conversation", messages = [] } = {}) {
  const state = createState();
  reduce(state, {
    type: "ready", user: ME, online_user_ids: [2], call_presence: [],
    channels: [{ id: 10, name: "総務課", kind: "department", last_seq: 0, unread: 0 },
               { id: 11, name: "企画課", kind: "department", last_seq: 0, unread: 0 }],
  });
  if (current != null) {
    enterChannel(state, current);
    historyLoaded(state, { messages, last_seq: 0, last_version: 0, has_more: false, read_positions: {} });
  }
  state.view = view;
  return state;
}

const kinds = (effects) => effects.map((e) => e.kind);

test("ready keeps who I am, who is online and my channels, then flushes the outbox", () => {
  const state = createState();
  const effects = reduce(state, {
    type: "ready", user: ME, online_user_ids: [2, 3],
    call_presence: [{ user_id: 3, status: "ringing" }],
    channels: [{ id: 10, name: "総務課", kind: "department" }],
  });
  assert.equal(state.me, ME);
  assert.deepEqual([...state.online], [2, 3]);
  assert.equal(state.calls.get(3), "ringing");
  assert.deepEqual([...state.channels.keys()], [10]);
  assert.deepEqual(kinds(effects), ["me", "channels", "directory", "flushOutbox"]);
});

test("ready after a reconnect resyncs the open conversation from its last seq and version", () => {
  const state = readyState({ messages: [message(1), message(2)] });
  state.lastVersion = 7;
  const effects = reduce(state, { type: "ready", user: ME, online_user_ids: [], channels: [{ id: 10 }] });
  assert.deepEqual(effects.find((e) => e.kind === "send").frame,
                   { type: "resync", channel_id: 10, after_seq: 2, after_version: 7 });
});

test("the next message of the open channel is appended and marked read", () => {
  const state = readyState({ messages: [message(1)] });
  const effects = reduce(state, { type: "message", message: message(2) });
  assert.equal(state.lastSeq, 2);
  assert.ok(state.messages.has(2));
  assert.deepEqual(kinds(effects), ["append", "markRead", "channels"]);
  assert.equal(state.channels.get(10).unread, 0, "read on screen: not unread");
});

test("a message past a gap is not shown: the missing ones are fetched in order first", () => {
  const state = readyState({ messages: [message(1)] });
  const effects = reduce(state, { type: "message", message: message(4) });
  assert.equal(state.messages.has(4), false);
  assert.equal(state.lastSeq, 1);
  assert.deepEqual(effects, [{ kind: "send", frame: { type: "resync", channel_id: 10, after_seq: 1 } }]);
});

test("a message seen twice (live and by resync) is kept once", () => {
  const state = readyState({ messages: [message(1)] });
  reduce(state, { type: "message", message: message(2) });
  assert.deepEqual(reduce(state, { type: "message", message: message(2) }), []);
  assert.equal(state.messages.size, 2);
});

test("a message in another channel counts as unread there and only redraws the list", () => {
  const state = readyState();
  const effects = reduce(state, { type: "message", message: message(1, { channel_id: 11 }) });
  assert.equal(state.channels.get(11).unread, 1);
  assert.equal(state.channels.get(11).last_message.seq, 1);
  assert.deepEqual(kinds(effects), ["channels"]);
});

test("my own message from another device is not unread", () => {
  const state = readyState();
  reduce(state, { type: "message", message: message(1, { channel_id: 11, sender_id: ME.id }) });
  assert.equal(state.channels.get(11).unread || 0, 0);
});

test("the ack of my message settles its pending bubble and appends the stored message", () => {
  const state = readyState();
  addPending(state, { client_id: "c-1", channel_id: 10, body: "了解です", created_at: 0 });
  const stored = message(1, { sender_id: ME.id, client_id: "c-1" });
  const effects = reduce(state, { type: "ack", ref: "c-1", message: stored });
  assert.equal(state.pending.has("c-1"), false);
  assert.deepEqual(effects.slice(0, 2), [{ kind: "settled", clientId: "c-1" }, { kind: "append", message: stored }]);
});

test("an edit of the open channel's message replaces it and moves the version", () => {
  const state = readyState({ messages: [message(1)] });
  const edited = message(1, { body: "訂正", version: 9, edited_at: "2026-12-07T02:00:00Z" });
  const effects = reduce(state, { type: "message.updated", message: edited });
  assert.equal(state.messages.get(1).body, "訂正");
  assert.equal(state.lastVersion, 9);
  assert.deepEqual(effects, [{ kind: "update", message: edited }]);
});

test("a limited resync result asks for the next page from where it stopped", () => {
  const state = readyState({ messages: [message(1)] });
  const effects = reduce(state, {
    type: "resync.result", channel_id: 10, messages: [message(2), message(3)], updated: [],
    limited: true, next_seq: 3, next_version: 3,
  });
  assert.deepEqual([...state.messages.keys()], [1, 2, 3]);
  assert.deepEqual(effects.at(-1), { kind: "send",
    frame: { type: "resync", channel_id: 10, after_seq: 3, after_version: 3 } });
});

test("a complete resync result is marked read; one for another channel is ignored", () => {
  const state = readyState();
  const done = reduce(state, { type: "resync.result", channel_id: 10, messages: [], updated: [], limited: false });
  assert.deepEqual(done, [{ kind: "markRead" }]);
  assert.deepEqual(reduce(state, { type: "resync.result", channel_id: 11, messages: [message(1)], updated: [] }), []);
});

test("resync.required resyncs the open channel, and nothing when none is open", () => {
  const state = readyState({ messages: [message(1)] });
  assert.deepEqual(reduce(state, { type: "resync.required" }),
                   [{ kind: "send", frame: { type: "resync", channel_id: 10, after_seq: 1, after_version: 0 } }]);
  assert.deepEqual(reduce(readyState({ current: null }), { type: "resync.required" }), []);
});

test("a read position raises 既読 in the open channel only", () => {
  const state = readyState();
  assert.deepEqual(reduce(state, { type: "read", channel_id: 10, user_id: 2, seq: 5 }), [{ kind: "readCounts" }]);
  assert.equal(state.readPositions.get(2), 5);
  assert.deepEqual(reduce(state, { type: "read", channel_id: 11, user_id: 3, seq: 5 }), []);
  assert.equal(state.readPositions.has(3), false);
});

test("typing names the latest typist until their message arrives", () => {
  const state = readyState({ messages: [message(1)] });
  reduce(state, { type: "typing", channel_id: 10, user_id: 2 });
  reduce(state, { type: "typing", channel_id: 10, user_id: 3 });
  reduce(state, { type: "typing", channel_id: 10, user_id: 2 });
  assert.deepEqual([...state.typing.keys()], [3, 2]);
  const effects = reduce(state, { type: "message", message: message(2, { sender_id: 2 }) });
  assert.deepEqual([...state.typing.keys()], [3]);
  assert.ok(effects.some((e) => e.kind === "typing" && e.userId === null));
  assert.deepEqual(typingEnded(state, 3), [{ kind: "typing", userId: null }]);
  assert.deepEqual(typingEnded(state, 3), []);
});

test("my own typing echo and typing elsewhere are ignored", () => {
  const state = readyState();
  assert.deepEqual(reduce(state, { type: "typing", channel_id: 10, user_id: ME.id }), []);
  assert.deepEqual(reduce(state, { type: "typing", channel_id: 11, user_id: 2 }), []);
  assert.equal(state.typing.size, 0);
});

test("presence and call presence: a call outranks online, idle ends it", () => {
  const state = readyState();
  reduce(state, { type: "presence", user_id: 3, status: "online" });
  reduce(state, { type: "presence", user_id: 2, status: "offline" });
  assert.deepEqual([...state.online], [3]);
  reduce(state, { type: "presence.batch", online: [4], offline: [3] });
  assert.deepEqual([...state.online], [4]);
  reduce(state, { type: "call.presence", user_id: 4, status: "on_call" });
  assert.equal(state.calls.get(4), "on_call");
  assert.deepEqual(reduce(state, { type: "call.presence", user_id: 4, status: "idle" }), [{ kind: "presence" }]);
  assert.equal(state.calls.has(4), false);
});

test("a channel joined with messages in it starts with them unread; a channel left is gone", () => {
  const state = readyState();
  reduce(state, { type: "channel.joined", channel: { id: 12, name: "電話", kind: "direct", last_seq: 3, last_read_seq: 1 } });
  assert.equal(state.channels.get(12).unread, 2);
  assert.equal(state.channels.get(12).last_message, null);
  reduce(state, { type: "channel.left", channel_id: 12 });
  assert.equal(state.channels.has(12), false);
});

test("stamps and pins patch the message on screen without touching others", () => {
  const state = readyState({ messages: [message(1), message(2)] });
  const reactions = [{ emoji: "👍", user_ids: [1, 2] }];
  const effects = reduce(state, { type: "reaction.updated", channel_id: 10, message_id: 101, reactions });
  assert.deepEqual(state.messages.get(1).reactions, reactions);
  assert.equal(state.messages.get(2).reactions, undefined);
  assert.deepEqual(kinds(effects), ["update"]);
  const pinned = reduce(state, { type: "pin.updated", channel_id: 10, message_id: 102, pinned_at: "2026-12-07T03:00:00Z" });
  assert.equal(state.messages.get(2).pinned_at, "2026-12-07T03:00:00Z");
  assert.deepEqual(kinds(pinned), ["update", "pins"]);
});

test("a mention elsewhere is announced, one in the conversation on screen is not", () => {
  const state = readyState();
  assert.deepEqual(kinds(reduce(state, { type: "mention", message: message(1, { channel_id: 11 }) })), ["mention"]);
  assert.deepEqual(reduce(state, { type: "mention", message: message(1) }), []);
});

test("a refused send marks the bubble failed and leaves the outbox, except when rate limited", () => {
  const state = readyState();
  addPending(state, { client_id: "c-1", channel_id: 10, body: "x", created_at: 0 });
  addPending(state, { client_id: "c-2", channel_id: 10, body: "y", created_at: 0 });
  const refused = reduce(state, { type: "error", ref: "c-1", code: "not_a_member", message: "no" });
  assert.equal(state.pending.get("c-1").state, "failed");
  assert.deepEqual(kinds(refused), ["pending", "forget", "error"]);
  const limited = reduce(state, { type: "error", ref: "c-2", code: "rate_limited", message: "slow down" });
  assert.deepEqual(kinds(limited), ["pending", "error"]);
});

test("a dropped connection turns sending into queued; failed stays failed", () => {
  const state = readyState();
  addPending(state, { client_id: "a", channel_id: 10, body: "x", created_at: 0 }).state = "sending";
  addPending(state, { client_id: "b", channel_id: 10, body: "y", created_at: 0 }).state = "failed";
  assert.deepEqual(connectionLost(state), [{ kind: "pending", clientId: "a" }]);
  assert.equal(state.pending.get("a").state, "queued");
  assert.equal(state.pending.get("b").state, "failed");
});

test("the outbox of an earlier page is adopted once, and sent with the same client id", () => {
  const state = readyState();
  const item = { client_id: "c-9", channel_id: 10, body: "再送", created_at: 0, reply_to: 101, mentions: null };
  adoptOutbox(state, [item]);
  adoptOutbox(state, [item]);
  assert.equal(state.pending.size, 1);
  assert.deepEqual(sendFrame(item), { type: "send", ref: "c-9", channel_id: 10, client_id: "c-9",
                                      body: "再送", reply_to: 101 });
});

test("read is reported only for the conversation on screen", () => {
  const state = readyState({ messages: [message(1)] });
  assert.deepEqual(readFrame(state), { type: "read", channel_id: 10, seq: 1 });
  state.view = "chats";
  assert.equal(readFrame(state), null);
});

test("an unknown frame type changes nothing", () => {
  const state = readyState();
  assert.deepEqual(reduce(state, { type: "toString" }), []);
  assert.deepEqual(reduce(state, { type: "brand.new" }), []);
});

test("every frame type the server sends has a reducer", () => {
  // The server-to-client frame types of docs/protocol.md (hello is the connection's).
  const types = ["ready", "message", "message.updated", "ack", "ok", "read.ok", "pong", "resync.result", "read", "typing",
                 "presence", "presence.batch", "call.presence", "channel.joined", "channel.left",
                 "reaction.updated", "pin.updated", "confirm.updated", "mention", "resync.required", "error",
                 "broadcast.repeated", "disaster.changed", "rollcall.tally", "server.restarting"];
  assert.deepEqual(Object.keys(reducers).sort(), [...types].sort());
});

// --- disaster mode -----------------------------------------------------------------------

const DRILL = { id: 7, name: "総合防災訓練", drill: true, title: "【訓練】総合防災訓練",
                declared_at: "2026-12-07T01:00:00Z", declared_by: "危機管理 太郎", ended_at: null };

test("ready carries the declared drill, or nothing, and the banner is drawn with me", () => {
  const state = createState();
  const effects = reduce(state, { type: "ready", user: ME, online_user_ids: [], channels: [],
                                  disaster: DRILL });
  assert.equal(state.disaster, DRILL);
  assert.ok(kinds(effects).includes("me"));
  reduce(state, { type: "ready", user: ME, online_user_ids: [], channels: [], disaster: null });
  assert.equal(state.disaster, null);
});

test("disaster.changed shows a declaration and clears it when that one ends", () => {
  const state = readyState();
  assert.equal(state.disaster, null);
  assert.deepEqual(kinds(reduce(state, { type: "disaster.changed", disaster: DRILL, ended: null })),
                   ["disaster"]);
  assert.equal(state.disaster.title, "【訓練】総合防災訓練");
  // The end of another (an older, already replaced) declaration leaves this one shown.
  reduce(state, { type: "disaster.changed", disaster: null, ended: { ...DRILL, id: 6 } });
  assert.equal(state.disaster, DRILL);
  const ended = { ...DRILL, ended_at: "2026-12-07T03:00:00Z" };
  assert.deepEqual(kinds(reduce(state, { type: "disaster.changed", disaster: null, ended })),
                   ["disaster"]);
  assert.equal(state.disaster, null);
});
