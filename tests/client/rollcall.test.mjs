// A safety roll call in the client's store: the live tally HQ gets, and the card's own
// answer (loaded, answered, changed), without a browser.
//   node --test tests/client/

import assert from "node:assert/strict";
import { test } from "node:test";

import { createState, reduce, rollcallAnswered, rollcallLoaded } from "../../web_client/static/store.js";

function tally(answered, fields = {}) {
  return {
    rollcall: { id: 3, title: "【訓練】安否確認", text: "回答してください", drill: true,
                deadline: null, started_at: "2026-12-07T02:00:00Z", started_by: "x",
                ended_at: null, message_id: 9, channel_id: 1, ...fields },
    total: 700, answered,
    counts: { safe: answered, safe_cannot_come: 0, injured: 0, can_come: 0, unanswered: 700 - answered },
    departments: [], unanswered: [],
  };
}

test("rollcall.tally keeps the latest tally and asks HQ's sheet to redraw", () => {
  const state = createState();
  assert.deepEqual(reduce(state, { type: "rollcall.tally", tally: tally(1) }),
                   [{ kind: "rollcallTally", id: 3 }]);
  reduce(state, { type: "rollcall.tally", tally: tally(650) });
  assert.equal(state.rollcallTallies.get(3).answered, 650);
  assert.equal(state.rollcallTallies.size, 1);
});

test("a tally that says the roll call ended closes the card's buttons", () => {
  const state = createState();
  rollcallLoaded(state, 3, { rollcall: tally(0).rollcall, mine: null, may_manage: false });
  reduce(state, { type: "rollcall.tally", tally: tally(5, { ended_at: "2026-12-07T03:00:00Z" }) });
  assert.equal(state.rollcalls.get(3).rollcall.ended_at, "2026-12-07T03:00:00Z");
});

test("answering shows my answer; changing it opens the buttons until the new one is stored", () => {
  const state = createState();
  rollcallLoaded(state, 3, { rollcall: tally(0).rollcall, mine: null, may_manage: false });
  const known = state.rollcalls.get(3);
  known.position = { lat: 35.68, lon: 139.76, accuracy: 20 };
  known.draftNote = "庁舎へ向かいます";
  rollcallAnswered(state, 3, { status: "can_come", label: "出勤可能", note: "庁舎へ向かいます",
                               position: { lat: 35.68, lon: 139.76, accuracy: 20 },
                               answered_at: "2026-12-07T02:01:00Z" });
  assert.equal(known.mine.status, "can_come");
  assert.equal(known.editing, false);
  // The attached position is used once: a changed answer attaches it again only on a tap.
  assert.equal(known.position, undefined);
  assert.equal(known.draftNote, undefined);
  // Reloading (another card of the same roll call) keeps what is known.
  rollcallLoaded(state, 3, { rollcall: tally(1).rollcall, mine: known.mine, may_manage: false });
  assert.equal(state.rollcalls.get(3).mine.status, "can_come");
});
