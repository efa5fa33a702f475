// The urgent broadcast's reducers (緊急放送), without a browser: node --test tests/client/

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  broadcastsMissed, confirmBroadcast, createState, enterChannel, historyLoaded, reduce,
} from "../../web_client/static/store.js";

const ME = { id: 1, name: "田中 美咲", role: "staff" };

function broadcast(fields = {}) {
  return { id: 500, seq: 1, version: 1, channel_id: 20, sender_id: 5, kind: "broadcast",
           body: "【緊急放送・本庁舎3階】避難してください", created_at: "2026-12-07T01:00:00Z",
           data: { broadcast: true, text: "避難してください", target: "本庁舎3階",
                   sender: "伊藤 大輔", sent_at: "2026-12-07T01:00:00Z", drill: false },
           ...fields };
}

function readyState({ current = 10 } = {}) {
  const state = createState();
  reduce(state, {
    type: "ready", user: ME, online_user_ids: [], call_presence: [],
    channels: [{ id: 10, name: "防災係", kind: "department", last_seq: 0, unread: 0 },
               { id: 20, name: "緊急放送：本庁舎3階", kind: "announcement", last_seq: 0, unread: 0 }],
  });
  enterChannel(state, current);
  historyLoaded(state, { messages: [], last_seq: 0, last_version: 0, has_more: false, read_positions: {} });
  return state;
}

test("a broadcast opens full screen even while another channel is on screen", () => {
  const state = readyState({ current: 10 });
  const m = broadcast();
  const effects = reduce(state, { type: "message", message: m });
  assert.deepEqual(effects[0], { kind: "broadcast", message: m, repeat: 0 });
  assert.deepEqual(effects.slice(1), [{ kind: "channels" }]);   // and counts as unread there
  assert.equal(state.channels.get(20).unread, 1);
});

test("in the channel on screen it opens full screen and is appended", () => {
  const state = readyState({ current: 20 });
  const kinds = reduce(state, { type: "message", message: broadcast() }).map((e) => e.kind);
  assert.deepEqual(kinds.slice(0, 2), ["broadcast", "append"]);
});

test("the sender's own broadcast and a plain message do not open it", () => {
  const state = readyState({ current: 10 });
  const own = reduce(state, { type: "message", message: broadcast({ sender_id: ME.id }) });
  assert.ok(own.every((e) => e.kind !== "broadcast"));
  const plain = reduce(state, { type: "message", message: broadcast({ id: 501, seq: 2, kind: "text", data: null }) });
  assert.ok(plain.every((e) => e.kind !== "broadcast"));
});

test("confirming sends 確認 and a later repeat no longer opens it", () => {
  const state = readyState({ current: 10 });
  const m = broadcast();
  assert.deepEqual(confirmBroadcast(state, m.id),
                   [{ kind: "send", frame: { type: "confirm", message_id: m.id } }]);
  assert.deepEqual(reduce(state, { type: "broadcast.repeated", channel_id: 20, message_id: m.id,
                                   repeat: 1, message: m }), []);
});

test("a repeat opens it again, saying which repeat it is", () => {
  const state = readyState({ current: 10 });
  const m = broadcast();
  assert.deepEqual(reduce(state, { type: "broadcast.repeated", channel_id: 20, message_id: m.id,
                                   repeat: 2, message: m }),
                   [{ kind: "broadcast", message: m, repeat: 2 }]);
});

test("confirm.updated gives the sender's count", () => {
  const state = readyState();
  assert.deepEqual(reduce(state, { type: "confirm.updated", channel_id: 20, message_id: 500,
                                   confirmed_count: 3 }),
                   [{ kind: "confirmCount", messageId: 500, count: 3 }]);
});

test("on connecting, missed broadcasts open, except those confirmed here already", () => {
  const state = readyState();
  const first = broadcast(), second = broadcast({ id: 502, seq: 2 });
  confirmBroadcast(state, first.id);
  assert.deepEqual(broadcastsMissed(state, [first, second]),
                   [{ kind: "broadcast", message: second, repeat: 0 }]);
});
