// Unread counts after backing out of a conversation (issue 25): the conversation that was
// open is closed by ‹, so a message that arrives there next is unread, on its row and on
// the トーク tab, without a reload.
//   node --test tests/client/

import assert from "node:assert/strict";
import { test } from "node:test";

import { totalUnread } from "../../web_client/static/selectors.js";
import { createState, enterChannel, historyLoaded, leaveChannel, readFrame, reduce } from "../../web_client/static/store.js";

const ME = { id: 1, name: "鈴木 一郎", role: "staff" };

function openDirect() {
  const state = createState();
  reduce(state, { type: "ready", user: ME, online_user_ids: [], call_presence: [],
                  channels: [{ id: 20, name: "田中 美咲", kind: "direct", last_seq: 3, unread: 0 }] });
  enterChannel(state, 20);
  historyLoaded(state, { messages: [], last_seq: 3, last_version: 3, has_more: false, read_positions: {} });
  state.view = "conversation";
  return state;
}

const fromTanaka = (seq) => ({ type: "message", message: {
  id: 200 + seq, seq, version: seq, channel_id: 20, sender_id: 2, kind: "text", body: `本文${seq}`,
  created_at: "2026-12-07T01:00:00Z" } });

test("a message in the conversation I backed out of counts as unread, on the row and the tab", () => {
  const state = openDirect();
  leaveChannel(state);            // ‹
  state.view = "chats";
  const effects = reduce(state, fromTanaka(4));
  assert.equal(state.current, null);
  assert.equal(state.channels.get(20).unread, 1);
  assert.equal(totalUnread(state), 1);
  assert.deepEqual(effects.map((e) => e.kind), ["channels"]);     // no append, no markRead
  assert.equal(readFrame(state), null);                           // nothing reported as read
});

test("leaving forgets the conversation, so opening it again starts clean", () => {
  const state = openDirect();
  leaveChannel(state);
  assert.equal(state.messages.size, 0);
  assert.equal(state.lastSeq, 0);
  assert.equal(state.readPositions.size, 0);
});

test("while the conversation is open, its messages are not unread", () => {
  const state = openDirect();
  reduce(state, fromTanaka(4));
  assert.equal(state.channels.get(20).unread, 0);
  assert.equal(totalUnread(state), 0);
});
